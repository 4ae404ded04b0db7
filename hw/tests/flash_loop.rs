//! Flashing, for real, onto loop devices: the disk ends up byte-identical to the image
//! (holes included), the checksum is verified, unsafe targets are refused.

mod common;

use std::io::{Seek, SeekFrom, Write};

use common::{Loop, MountGuard};
use panier_hw::blockdev::{self, SafetyError};
use panier_hw::flash::{self, FlashError};
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

/// A 40 MiB sparse image (10 windows of 4 MiB, 3 holding data): a boot area, a data extent in the middle, a backup header at the end.
fn sparse_image(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("panier.img");
    let mut f = std::fs::File::create(&path).unwrap();
    f.set_len(40 * MIB).unwrap();
    let pattern = |seed: u8, len: u64| {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
            .collect::<Vec<u8>>()
    };
    for (at, len, seed) in [
        (0, MIB, 1u8),
        (17 * MIB, 3 * MIB, 2),
        (40 * MIB - 512 * 1024, 512 * 1024, 3),
    ] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&pattern(seed, len)).unwrap();
    }
    f.sync_all().unwrap();
    path
}

#[test]
fn flash_writes_the_image_and_verifies_it() {
    let disk = Loop::with_secret(64 * MIB as usize, &[0xAB]);
    let image = sparse_image(disk.dir.path());
    let mut lines = Vec::new();
    let report = flash::flash(&image, &disk.dev, &disk.name(), Lang::En, &mut |l| {
        lines.push(l.to_string())
    })
    .expect("flash");

    let image_bytes = std::fs::read(&image).unwrap();
    let expected = format!("{:x}", Sha256::digest(&image_bytes));
    assert!(report.verified);
    assert_eq!(report.sha256, expected);
    assert_eq!(report.readback_sha256, expected);
    assert_eq!(report.image_bytes, 40 * MIB);
    assert_eq!(report.written_bytes + report.zeroed_bytes, 40 * MIB);
    assert!(
        report.zeroed_bytes == 28 * MIB,
        "holes were copied instead of skipped: {report:?}"
    );
    // The old content under the image's holes is gone; what lies beyond the image is untouched.
    let on_disk = std::fs::read(&disk.file).unwrap();
    assert!(
        on_disk[..40 * MIB as usize] == image_bytes[..],
        "disk differs from image"
    );
    assert!(on_disk[40 * MIB as usize..].iter().all(|&b| b == 0xAB));
    assert!(
        lines.iter().any(|l| l.contains("writing 100%")),
        "{lines:?}"
    );
}

#[test]
fn flash_refuses_an_image_larger_than_the_disk() {
    let disk = Loop::with_secret(32 * MIB as usize, &[0xAB]);
    let image = sparse_image(disk.dir.path());
    let err = flash::flash(&image, &disk.dev, &disk.name(), Lang::En, &mut |_| {}).unwrap_err();
    assert!(matches!(err, FlashError::TooLarge { .. }), "{err}");
    assert!(
        std::fs::read(&disk.file)
            .unwrap()
            .iter()
            .all(|&b| b == 0xAB)
    );
}

#[test]
fn flash_refuses_a_mounted_disk() {
    let disk = Loop::with_secret(64 * MIB as usize, &[0xAB]);
    let image = sparse_image(disk.dir.path());
    let _mounted = MountGuard::mount(&disk.dev);
    let err = flash::flash(&image, &disk.dev, &disk.name(), Lang::En, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, FlashError::Refused(SafetyError::Mounted { .. })),
        "{err}"
    );
}

#[test]
fn flash_refuses_the_system_disk() {
    let host = Host::system();
    let (name, _) = blockdev::system_disks(&host)
        .first()
        .expect("a disk under /")
        .clone();
    assert!(matches!(
        blockdev::check_not_in_use(&host, &name),
        Err(SafetyError::SystemDisk { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let image = sparse_image(dir.path());
    let token = blockdev::identity(&host, &name)
        .confirmation_token()
        .to_string();
    let err = flash::flash(
        &image,
        std::path::Path::new(&format!("/dev/{name}")),
        &token,
        Lang::En,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, FlashError::Refused(SafetyError::SystemDisk { .. })),
        "{err}"
    );
}
