//! The wipe, for real, on loop devices: data gone, certificate right, mounted and system
//! disks refused.

mod common;

use common::{Loop, MountGuard, PartitionNode, run};
use panier_hw::blockdev::{self, SafetyError};
use panier_hw::certificate::{VerifyMode, WipeCertificate};
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use panier_hw::wipe::{self, Method, WipeError, WipeOptions};

const SECRET: &[u8] = b"donor's tax return 2019 - IBAN FR76 3000 ";
const SIZE: usize = 48 << 20;

fn options(verify: VerifyMode) -> WipeOptions {
    WipeOptions {
        verify,
        samples: 256,
        firmware_methods: true,
        lang: Lang::En,
    }
}

#[test]
fn wipe_erases_every_byte_and_certifies_it() {
    let disk = Loop::with_secret(SIZE, SECRET);
    let mut lines = Vec::new();
    let cert = wipe::wipe(
        &Host::system(),
        &disk.dev,
        &disk.name(),
        &options(VerifyMode::Sample),
        &mut |l| lines.push(l.to_string()),
    )
    .expect("wipe");

    assert!(!disk.backing_contains(SECRET), "secret survived the wipe");
    assert!(disk.backing_all_zero(), "disk not all zeros");
    assert!(cert.passed);
    assert_eq!(cert.disk.name, disk.name());
    assert_eq!(cert.disk.size_bytes, SIZE as u64);
    assert_eq!(cert.disk.path, disk.dev.to_string_lossy());
    assert!(
        cert.disk
            .model
            .as_deref()
            .unwrap()
            .contains(disk.file.to_str().unwrap())
    );
    assert_eq!(cert.method, Some(Method::DiscardAndOverwrite));
    let v = cert.verification.as_ref().unwrap();
    assert_eq!(v.mode, VerifyMode::Sample);
    // first MiB + last MiB + 256 regions of 64 KiB
    assert_eq!(v.regions_checked, 258);
    assert_eq!(v.bytes_checked, (2 << 20) + 256 * (64 << 10));
    assert!(cert.started_at <= cert.ended_at && !cert.ended_at.is_empty());
    assert!(
        lines.iter().any(|l| l.contains("overwrite 100%")),
        "no progress lines: {lines:?}"
    );

    let out = tempfile::tempdir().unwrap();
    let (json, html) = cert.save(out.path(), Lang::Fr).unwrap();
    assert_eq!(WipeCertificate::load(&json).unwrap(), cert);
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("Certificat d&#39;effacement de disque") && page.contains(&cert.id));
    assert_eq!(WipeCertificate::load_dir(out.path()), vec![cert]);
}

#[test]
fn full_verification_reads_the_whole_disk() {
    let disk = Loop::with_secret(SIZE, SECRET);
    let cert = wipe::wipe(
        &Host::system(),
        &disk.dev,
        &disk.name(),
        &options(VerifyMode::Full),
        &mut |_| {},
    )
    .expect("wipe");
    let v = cert.verification.unwrap();
    assert!(v.passed);
    assert_eq!(v.bytes_checked, SIZE as u64);
}

#[test]
fn verification_finds_a_leftover_byte() {
    let disk = Loop::with_secret(SIZE, &[0]);
    let offset = 40_000_123u64;
    let mut bytes = std::fs::read(&disk.file).unwrap();
    bytes[offset as usize] = 0x42;
    std::fs::write(&disk.file, bytes).unwrap();
    let claimed =
        blockdev::claim_for_destruction(&Host::system(), &disk.dev, &disk.name()).unwrap();
    let full = wipe::verify_zeros(
        &claimed.file,
        &disk.name(),
        SIZE as u64,
        VerifyMode::Full,
        0,
        1,
    )
    .unwrap();
    assert!(!full.passed);
    assert_eq!(full.first_nonzero_offset, Some(offset));
}

#[test]
fn wrong_serial_is_refused_and_nothing_is_written() {
    let disk = Loop::with_secret(SIZE, SECRET);
    let err = wipe::wipe(
        &Host::system(),
        &disk.dev,
        "not-the-serial",
        &options(VerifyMode::Sample),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            WipeError::Refused(SafetyError::WrongConfirmation { .. })
        ),
        "{err}"
    );
    assert!(disk.backing_contains(SECRET));
}

#[test]
fn mounted_disk_is_refused() {
    let disk = Loop::with_secret(SIZE, SECRET);
    let _mounted = MountGuard::mount(&disk.dev);
    let err = wipe::wipe(
        &Host::system(),
        &disk.dev,
        &disk.name(),
        &options(VerifyMode::Sample),
        &mut |_| {},
    )
    .unwrap_err();
    match err {
        WipeError::Refused(SafetyError::Mounted {
            device, partition, ..
        }) => {
            assert_eq!(device, disk.name());
            assert_eq!(partition, disk.name());
        }
        other => panic!("expected a mounted refusal, got {other}"),
    }
}

#[test]
fn disk_with_a_mounted_partition_is_refused() {
    let disk = Loop::with_secret(SIZE, SECRET);
    run(
        "sh",
        &[
            "-c",
            &format!(
                "echo 'start=2048, type=83' | sfdisk -q {0}; partx -a {0} 2>/dev/null || true",
                disk.dev.display()
            ),
        ],
    );
    let node = PartitionNode::wait(&format!("{}p1", disk.name()));
    let part = node.path.clone();
    let _mounted = MountGuard::mount(&part);
    let err = wipe::wipe(
        &Host::system(),
        &disk.dev,
        &disk.name(),
        &options(VerifyMode::Sample),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&err, WipeError::Refused(SafetyError::Mounted { partition, .. }) if *partition == format!("{}p1", disk.name())),
        "{err}"
    );
    let err = wipe::wipe(
        &Host::system(),
        &part,
        &disk.name(),
        &options(VerifyMode::Sample),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, WipeError::Refused(SafetyError::Partition { .. })),
        "{err}"
    );
}

#[test]
fn system_disk_is_refused_even_with_its_serial() {
    let host = Host::system();
    let system = blockdev::system_disks(&host);
    let (name, _) = system
        .first()
        .expect("this machine has a disk under /")
        .clone();
    // Check the gate alone first: if it ever let the system disk through, stop before wipe().
    let gate = blockdev::check_not_in_use(&host, &name);
    assert!(
        matches!(gate, Err(SafetyError::SystemDisk { .. })),
        "{gate:?}"
    );
    let token = blockdev::identity(&host, &name)
        .confirmation_token()
        .to_string();
    let err = wipe::wipe(
        &host,
        std::path::Path::new(&format!("/dev/{name}")),
        &token,
        &options(VerifyMode::Sample),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, WipeError::Refused(SafetyError::SystemDisk { .. })),
        "{err}"
    );
}

#[test]
fn an_nvme_command_to_a_disk_that_is_not_nvme_fails_by_name_and_changes_nothing() {
    let disk = Loop::with_secret(SIZE, SECRET);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)
        .unwrap();
    let identify = panier_hw::nvme::identify_controller(&file).unwrap_err();
    assert!(
        identify.to_string().starts_with("NVMe identify: "),
        "{identify}"
    );
    let format =
        panier_hw::nvme::format(&file, panier_hw::nvme::EraseSetting::UserData).unwrap_err();
    assert!(
        format.to_string().starts_with("NVMe namespace ID: "),
        "{format}"
    );
    assert!(disk.backing_contains(SECRET));
    let captured = Host::system()
        .nvme_identify(&disk.dev.to_string_lossy())
        .unwrap_err();
    assert!(captured.to_string().contains("NVMe identify"), "{captured}");
}
