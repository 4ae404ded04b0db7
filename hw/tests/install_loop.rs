//! Install mode, for real, on loop devices: a small Panier-layout source disk (a real
//! squashfs in slot A, a real FAT EFI partition with a grubenv and the stick's `panier/`
//! folder, stand-in GRUB code) installed onto a second disk that holds a donor's data and
//! partition table; then the refusals, and a disk that fails mid-copy.

mod common;

use std::path::{Path, PathBuf};

use common::{Loop, MountGuard, run};
use panier_hw::blockdev::SafetyError;
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use panier_hw::install::{self, InstallError, InstallOptions, Slot, Stage, efi, layout};

const MIB: u64 = 1 << 20;
const SECRET: &[u8] = b"donor's holiday photos, IBAN FR76 ";
const BOOT_CODE: u8 = 0xB0;
/// Partitions of the source, in MiB: (start, size), numbered 1 to 5.
const SOURCE: [(u64, u64); 5] = [(1, 1), (2, 8), (10, 16), (26, 16), (42, 2)];
const SOURCE_MIB: u64 = 45;
const TYPES: [&str; 5] = [
    "21686148-6449-6E6F-744E-656564454649",
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
];

fn pattern(seed: u8, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) | 1)
        .collect()
}

fn put(file: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .write_all_at(bytes, offset)
        .unwrap();
}

fn get(file: &Path, offset: u64, len: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut out = vec![0u8; len as usize];
    std::fs::File::open(file)
        .unwrap()
        .read_exact_at(&mut out, offset)
        .unwrap();
    out
}

/// The source disk image: what `genimage.cfg` makes, in small. `names` lets a test break it.
fn source_image(dir: &Path, names: [&str; 5]) -> PathBuf {
    let disk = dir.join("stick.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(SOURCE_MIB * MIB)
        .unwrap();
    let mut script = String::from("label: gpt\nfirst-lba: 2048\n");
    for (i, (start, size)) in SOURCE.iter().enumerate() {
        // The data partition as a stick's first boot leaves it: grown to the end, any size.
        let sectors = if i == 4 { size * 2048 - 7 } else { size * 2048 };
        script.push_str(&format!(
            "start={}, size={sectors}, type={}, name=\"{}\"\n",
            start * 2048,
            TYPES[i],
            names[i]
        ));
    }
    std::fs::write(dir.join("script"), script).unwrap();
    run(
        "sh",
        &[
            "-c",
            &format!(
                "sfdisk -q {} < {}",
                disk.display(),
                dir.join("script").display()
            ),
        ],
    );
    // GRUB's stand-ins: boot code in the MBR, a core image in partition 1.
    put(&disk, 0, &[BOOT_CODE; 440]);
    put(&disk, MIB, &pattern(1, MIB));
    // The EFI partition: FAT with GRUB's files, an environment block that says slot B, and
    // the stick's own provisioning folder (which must not reach the box).
    let efi = dir.join("efi.vfat");
    run(
        "mkfs.vfat",
        &[
            "-C",
            "-n",
            "PANIER_EFI",
            efi.to_str().unwrap(),
            &(8 * 1024).to_string(),
        ],
    );
    let env = dir.join("grubenv");
    run("grub-editenv", &[env.to_str().unwrap(), "create"]);
    run(
        "grub-editenv",
        &[
            env.to_str().unwrap(),
            "set",
            "ORDER=B A",
            "A_OK=0",
            "B_OK=1",
            "B_TRY=2",
        ],
    );
    std::fs::write(dir.join("bootx64.efi"), pattern(7, 300_000)).unwrap();
    std::fs::write(dir.join("keys"), "ssh-ed25519 AAAAC3Nza workshop\n").unwrap();
    std::fs::write(dir.join("name"), "atelier\n").unwrap();
    let img = format!("{}", efi.display());
    for d in ["::/EFI", "::/EFI/BOOT", "::/panier"] {
        run("mmd", &["-i", &img, d]);
    }
    for (src, dst) in [
        ("grubenv", "::/EFI/BOOT/grubenv"),
        ("bootx64.efi", "::/EFI/BOOT/BOOTX64.EFI"),
        ("keys", "::/panier/authorized_keys"),
        ("name", "::/panier/box_name"),
    ] {
        run("mcopy", &["-i", &img, dir.join(src).to_str().unwrap(), dst]);
    }
    put(&disk, 2 * MIB, &std::fs::read(&efi).unwrap());
    // Slot A: a real squashfs, the rest of the slot filled with a pattern that must not be
    // copied; slot B: stale content.
    put(&disk, 10 * MIB, &vec![0xEE; 16 * MIB as usize]);
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join("boot/bzImage"), pattern(3, 2 * MIB)).unwrap();
    let sq = dir.join("root.squashfs");
    run(
        "mksquashfs",
        &[
            root.to_str().unwrap(),
            sq.to_str().unwrap(),
            "-comp",
            "gzip",
            "-noappend",
            "-quiet",
            "-no-progress",
        ],
    );
    put(&disk, 10 * MIB, &std::fs::read(&sq).unwrap());
    put(&disk, 26 * MIB, &vec![0x5B; 16 * MIB as usize]);
    put(&disk, 42 * MIB, &vec![0xDA; 2 * MIB as usize]);
    disk
}

fn source_loop(names: [&str; 5]) -> Loop {
    let dir = tempfile::tempdir().unwrap();
    let file = source_image(dir.path(), names);
    Loop::attach(dir, file)
}

/// A donor's disk: their data everywhere and a partition table of their own.
fn donor_disk(size: u64) -> Loop {
    let disk = Loop::with_secret(size as usize, SECRET);
    run(
        "sh",
        &[
            "-c",
            &format!(
                "echo 'start=2048, type=L, name=\"donor\"' | sfdisk -q --label gpt {}",
                disk.dev.display()
            ),
        ],
    );
    disk
}

fn options<'a>(source: &'a Loop, target: &'a Path, confirmation: &'a str) -> InstallOptions<'a> {
    InstallOptions {
        source: &source.dev,
        slot: Slot::A,
        target,
        confirmation,
        box_name: "mediatheque-3",
        setup_code: "abcde-fghjk",
        lang: Lang::En,
    }
}

#[test]
fn install_copies_verifies_and_provisions() {
    let source = source_loop(layout::NAMES);
    let target = donor_disk(64 * MIB);
    let mut lines = Vec::new();
    let mut last = 0u8;
    let report = install::install(
        &Host::system(),
        &options(&source, &target.dev, &target.name()),
        &mut |stage, pct, line| {
            assert!(pct >= last, "progress went back from {last} to {pct}");
            last = pct;
            if !line.is_empty() {
                lines.push(format!("{stage:?} {pct} {line}"));
            }
        },
    )
    .unwrap_or_else(|e| panic!("install: {e}"));
    assert_eq!(last, 100);
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("Done 100 Installed and verified on"),
        "{lines:#?}"
    );

    // The new table: same partitions 1-4, a 16 MiB data partition, every UUID new.
    let src = layout::read(&source.file).unwrap();
    let dst = layout::read(&target.file).unwrap();
    assert_eq!(dst, report.table);
    assert_ne!(dst.disk_uuid, src.disk_uuid);
    for n in 1..=5 {
        let (s, d) = (src.part(n), dst.part(n));
        assert_eq!(
            (&s.name, &s.type_uuid, s.start_bytes),
            (&d.name, &d.type_uuid, d.start_bytes),
            "partition {n}"
        );
        assert_ne!(s.uuid, d.uuid, "partition {n} kept its UUID");
        assert_eq!(
            d.size_bytes,
            if n == 5 { 16 * MIB } else { s.size_bytes },
            "partition {n}"
        );
    }
    assert_eq!(
        dst.partitions
            .iter()
            .map(|p| &p.uuid)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        5
    );

    // The bytes: boot code, GRUB's partition, the squashfs (its used bytes only), zeros.
    let t = &target.file;
    assert_eq!(get(t, 0, 440), vec![BOOT_CODE; 440]);
    assert_eq!(get(t, 510, 2), [0x55, 0xAA]);
    assert_eq!(get(t, MIB, MIB), get(&source.file, MIB, MIB));
    let sq = std::fs::metadata(source.dir.path().join("root.squashfs"))
        .unwrap()
        .len();
    let used = sq.next_multiple_of(4096);
    assert_eq!(get(t, 10 * MIB, used), get(&source.file, 10 * MIB, used));
    let after_squashfs = get(t, 10 * MIB + used, 16 * MIB - used);
    assert!(
        !after_squashfs.contains(&0xEE),
        "the unused end of slot A was copied"
    );
    assert!(
        get(t, 26 * MIB, MIB).iter().all(|&b| b == 0),
        "slot B's head is not zeroed"
    );
    assert!(
        get(t, 42 * MIB, 16 * MIB).iter().all(|&b| b == 0),
        "the data partition is not zeroed"
    );
    let sys_a = report
        .copied
        .iter()
        .find(|c| c.partition == "panier-system-a")
        .unwrap();
    assert_eq!((sys_a.bytes, &sys_a.sha256), (used, &sys_a.readback_sha256));
    assert_eq!(report.copied.len(), 6, "{:?}", report.copied);

    // The EFI partition: a valid FAT, the stick's folder gone, the new box's files, slot A.
    let efi_bytes = get(t, 2 * MIB, 8 * MIB);
    let efi_file = target.dir.path().join("efi-out.vfat");
    std::fs::write(&efi_file, &efi_bytes).unwrap();
    let fsck = std::process::Command::new("fsck.vfat")
        .args(["-n", efi_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "fsck.vfat: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    assert_eq!(
        efi::read_file(&efi_bytes, "panier/box_name").unwrap(),
        b"mediatheque-3\n"
    );
    assert_eq!(
        efi::read_file(&efi_bytes, "panier/setup_code").unwrap(),
        b"ABCDEFGHJK\n"
    );
    assert!(
        efi::read_file(&efi_bytes, "panier/authorized_keys").is_none(),
        "the workshop's SSH keys reached the box"
    );
    assert_eq!(
        efi::read_file(&efi_bytes, "EFI/BOOT/grubenv").unwrap(),
        efi::grubenv_slot_a()
    );
    assert_eq!(
        efi::read_file(&efi_bytes, "EFI/BOOT/BOOTX64.EFI").unwrap(),
        pattern(7, 300_000)
    );
    let env_file = target.dir.path().join("grubenv-out");
    std::fs::write(
        &env_file,
        efi::read_file(&efi_bytes, "EFI/BOOT/grubenv").unwrap(),
    )
    .unwrap();
    let listed = run("grub-editenv", &[env_file.to_str().unwrap(), "list"]);
    assert_eq!(listed, "ORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=0\nB_TRY=0");

    // The install is not a wipe (the agent wipes first): the donor's data stays where no
    // range goes, such as the unused end of slot A; their partition table is gone.
    assert!(after_squashfs.windows(SECRET.len()).any(|w| w == SECRET));
    assert!(!run("sfdisk", &["--json", t.to_str().unwrap()]).contains("donor"));
}

#[test]
fn the_source_disk_is_refused_as_target() {
    let source = source_loop(layout::NAMES);
    let err = install::install(
        &Host::system(),
        &options(&source, &source.dev, &source.name()),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, InstallError::SameDisk { .. }), "{err}");
}

#[test]
fn a_wrong_serial_is_refused_and_nothing_is_written() {
    let source = source_loop(layout::NAMES);
    let target = donor_disk(64 * MIB);
    let before = std::fs::read(&target.file).unwrap();
    let err = install::install(
        &Host::system(),
        &options(&source, &target.dev, "not-the-serial"),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::Refused(SafetyError::WrongConfirmation { .. })
        ),
        "{err}"
    );
    assert!(
        err.message(Lang::Fr).starts_with("Disque cible refusé"),
        "{}",
        err.message(Lang::Fr)
    );
    assert!(
        std::fs::read(&target.file).unwrap() == before,
        "the target changed"
    );
}

#[test]
fn a_mounted_target_is_refused() {
    let source = source_loop(layout::NAMES);
    let target = Loop::with_secret(64 * MIB as usize, SECRET);
    let _mounted = MountGuard::mount(&target.dev);
    let err = install::install(
        &Host::system(),
        &options(&source, &target.dev, &target.name()),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, InstallError::Refused(SafetyError::Mounted { .. })),
        "{err}"
    );
}

#[test]
fn a_source_that_is_not_a_panier_disk_is_refused() {
    let mut names = layout::NAMES;
    names[2] = "rootfs";
    let source = source_loop(names);
    let target = donor_disk(64 * MIB);
    let before = std::fs::read(&target.file).unwrap();
    let err = install::install(
        &Host::system(),
        &options(&source, &target.dev, &target.name()),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    match &err {
        InstallError::NotPanier { device, problem } => {
            assert_eq!(*device, source.name());
            assert!(
                problem.contains("partition 3 is named 'rootfs'"),
                "{problem}"
            );
        }
        other => panic!("expected not-a-Panier-disk, got {other}"),
    }
    assert!(err.message(Lang::Fr).contains("n'est pas un disque Panier"));
    assert!(
        std::fs::read(&target.file).unwrap() == before,
        "the target changed"
    );
}

#[test]
fn a_target_too_small_is_refused_before_anything_is_written() {
    let source = source_loop(layout::NAMES);
    let target = donor_disk(48 * MIB);
    let err = install::install(
        &Host::system(),
        &options(&source, &target.dev, &target.name()),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, InstallError::TooSmall { .. }), "{err}");
    assert!(run("sfdisk", &["--json", target.file.to_str().unwrap()]).contains("donor"));
}

/// A disk that fails mid-copy: its backing file lives on a 24 MiB tmpfs, so writes past
/// that fail (the loop device answers EIO), as a dying disk would. Its size is not a
/// multiple of 4 KiB, so its backup GPT must be cleared too.
#[test]
fn a_failure_mid_copy_leaves_no_partition_table() {
    let source = source_loop(layout::NAMES);
    let small = tempfile::tempdir().unwrap();
    run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=24m",
            "panier-test",
            small.path().to_str().unwrap(),
        ],
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(small.path().to_path_buf());
    let file = small.path().join("disk.img");
    // An odd number of sectors: the backup GPT sits in the last 512 bytes, past any 4 KiB.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(64 * MIB + 3 * 512)
        .unwrap();
    run(
        "sh",
        &[
            "-c",
            &format!(
                "echo 'start=2048, type=L, name=\"donor\"' | sfdisk -q --label gpt {}",
                file.display()
            ),
        ],
    );
    let target = Loop::attach(tempfile::tempdir().unwrap(), file.clone());
    // Fill the tmpfs but for a few MiB: the copy of slot A cannot complete.
    run(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={}", small.path().join("fill").display()),
            "bs=1M",
            "count=18",
            "status=none",
        ],
    );
    let mut stages = Vec::new();
    let err = install::install(
        &Host::system(),
        &options(&source, &target.dev, &target.name()),
        &mut |s, _, _| stages.push(s),
    )
    .unwrap_err();
    match &err {
        InstallError::NotInstalled { cause, cleared, .. } => {
            assert!(*cleared, "{err}");
            assert!(
                matches!(
                    **cause,
                    InstallError::Io {
                        operation: "write",
                        ..
                    }
                ),
                "{cause}"
            );
        }
        other => panic!("expected a failed install, got {other}"),
    }
    assert!(
        stages.contains(&Stage::Copy) && !stages.contains(&Stage::Table),
        "{stages:?}"
    );
    assert!(
        err.to_string()
            .contains("is NOT installed: its partition table was cleared"),
        "{err}"
    );
    assert!(
        err.message(Lang::Fr).contains("n'est PAS installé"),
        "{}",
        err.message(Lang::Fr)
    );
    // Neither GPT header is left (sfdisk would not even look for the backup without the
    // protective MBR, other tools would).
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !bytes.windows(8).any(|w| w == b"EFI PART"),
        "a GPT header survived"
    );
    let out = std::process::Command::new("sfdisk")
        .arg("--json")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("partitiontable"),
        "a partition table is left: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A stick without a `panier/` folder: the folder is created, and the FAT stays clean for
/// `fsck.vfat` (which the box runs with `-a` at every boot).
#[test]
fn efi_without_a_provisioning_folder_gets_one_and_stays_clean() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("efi.vfat");
    run("mkfs.vfat", &["-C", img.to_str().unwrap(), "8192"]);
    let env = dir.path().join("grubenv");
    run("grub-editenv", &[env.to_str().unwrap(), "create"]);
    run(
        "mmd",
        &["-i", img.to_str().unwrap(), "::/EFI", "::/EFI/BOOT"],
    );
    run(
        "mcopy",
        &[
            "-i",
            img.to_str().unwrap(),
            env.to_str().unwrap(),
            "::/EFI/BOOT/grubenv",
        ],
    );
    let out = efi::provision(std::fs::read(&img).unwrap(), "biblio", "ABCDEFGHJK").unwrap();
    std::fs::write(&img, &out).unwrap();
    let fsck = std::process::Command::new("fsck.vfat")
        .args(["-n", img.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "fsck.vfat: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    assert_eq!(
        run(
            "mtype",
            &["-i", img.to_str().unwrap(), "::/panier/box_name"]
        ),
        "biblio"
    );
    assert!(run("mdir", &["-i", img.to_str().unwrap(), "-b", "::/panier"]).contains("setup_code"));
    let bare = dir.path().join("bare.vfat");
    run("mkfs.vfat", &["-C", bare.to_str().unwrap(), "8192"]);
    let no_grubenv = efi::provision(std::fs::read(&bare).unwrap(), "biblio", "ABCDEFGHJK");
    assert!(
        matches!(no_grubenv, Err(efi::EfiError::NoGrubenv)),
        "{no_grubenv:?}"
    );
}
