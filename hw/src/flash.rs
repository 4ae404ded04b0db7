//! `panier flash IMAGE DEVICE`: write a disk image onto a disk, fast, and prove it arrived.
//!
//! The image is walked in 4 MiB windows; a window that is entirely a hole in the (sparse)
//! image file is not copied but zeroed on the disk with the block layer's write-zeroes
//! (`BLKZEROOUT`, usually a metadata operation on SSDs), so stale data from the previous
//! owner never shows through an unused region of the new filesystem. Data windows are
//! written with `O_DIRECT`. The SHA-256 of the image (holes read as zeros) is computed while
//! writing, then the same byte range is read back from the disk (through `O_DIRECT`) and its
//! SHA-256 compared.
//!
//! Invariants: the disk goes through the same safety gate as the wipe
//! ([`crate::blockdev::claim_for_destruction`]): never the system disk, never mounted,
//! serial typed, exclusive open held throughout. An image larger than the disk is refused
//! before anything is written.
//! Limits: raw images only (no compressed or bmap formats); an image whose size is not a
//! multiple of 512 bytes is padded with zeros to the next sector on the disk.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::blockdev::{self, DiskIdentity, SafetyError};
use crate::host::Host;
use crate::html::human_bytes;
use crate::i18n::{Lang, Msg, tr};
use crate::rawio::{self, AlignedBuf};

const WINDOW: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error(transparent)]
    Refused(#[from] SafetyError),
    #[error("cannot read image {path}: {source}")]
    Image {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("image {path} ({image_bytes} bytes) does not fit on {device} ({device_bytes} bytes)")]
    TooLarge {
        path: PathBuf,
        image_bytes: u64,
        device_bytes: u64,
        device: String,
    },
    #[error("{device}: {operation} failed at byte {offset}: {source}")]
    Io {
        device: String,
        operation: &'static str,
        offset: u64,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FlashReport {
    pub image: PathBuf,
    pub disk: DiskIdentity,
    pub image_bytes: u64,
    pub written_bytes: u64,
    pub zeroed_bytes: u64,
    pub sha256: String,
    pub readback_sha256: String,
    pub verified: bool,
    pub write_seconds: f64,
    pub verify_seconds: f64,
}

/// Whether `[offset, offset + len)` of `file` holds no data (is a hole).
fn is_hole(file: &File, offset: u64, len: u64) -> bool {
    // SAFETY: lseek on a valid descriptor; SEEK_DATA returns the next data offset or ENXIO.
    let next = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, libc::SEEK_DATA) };
    if next < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
    }
    next as u64 >= offset + len
}

pub fn flash(
    image: &Path,
    device: &Path,
    confirmation: &str,
    lang: Lang,
    progress: &mut dyn FnMut(&str),
) -> Result<FlashReport, FlashError> {
    let image_err = |source| FlashError::Image {
        path: image.to_path_buf(),
        source,
    };
    let source = File::open(image).map_err(image_err)?;
    let image_bytes = source.metadata().map_err(image_err)?.len();
    let claimed = blockdev::claim_for_destruction(&Host::system(), device, confirmation)?;
    let disk = claimed.identity.clone();
    let padded = image_bytes.next_multiple_of(512);
    if padded > disk.size_bytes {
        return Err(FlashError::TooLarge {
            path: image.into(),
            image_bytes,
            device_bytes: disk.size_bytes,
            device: disk.name,
        });
    }
    let io = |operation, offset| {
        let device = disk.name.clone();
        move |source| FlashError::Io {
            device,
            operation,
            offset,
            source,
        }
    };
    progress(&tr(
        lang,
        Msg::FlashStart,
        &[
            ("image", &image.display()),
            ("size", &human_bytes(image_bytes)),
            ("disk", &disk.name),
        ],
    ));

    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut buf = AlignedBuf::new(WINDOW as usize);
    let zeros = AlignedBuf::new(WINDOW as usize);
    let (mut written, mut zeroed, mut last_tenth) = (0u64, 0u64, 0u64);
    let mut offset = 0u64;
    while offset < image_bytes {
        let len = (image_bytes - offset).min(WINDOW);
        let disk_len = len.next_multiple_of(512);
        if is_hole(&source, offset, len) {
            hasher.update(&zeros.as_slice()[..len as usize]);
            match rawio::zero_out(&claimed.file, offset, disk_len) {
                Ok(()) => {}
                Err(e) if rawio::is_unsupported(&e) => rawio::write_all_at(
                    &claimed.file,
                    &zeros.as_slice()[..disk_len as usize],
                    offset,
                )
                .map_err(io("write", offset))?,
                Err(e) => return Err(io("zero-out", offset)(e)),
            }
            zeroed += len;
        } else {
            let slice = buf.as_mut_slice();
            slice[..disk_len as usize].fill(0);
            std::os::unix::fs::FileExt::read_exact_at(&source, &mut slice[..len as usize], offset)
                .map_err(image_err)?;
            hasher.update(&slice[..len as usize]);
            rawio::write_all_at(&claimed.file, &slice[..disk_len as usize], offset)
                .map_err(io("write", offset))?;
            written += len;
        }
        offset += len;
        let tenth = offset * 10 / image_bytes.max(1);
        if tenth != last_tenth {
            last_tenth = tenth;
            progress(&tr(
                lang,
                Msg::FlashProgress,
                &[("disk", &disk.name), ("pct", &(tenth * 10))],
            ));
        }
    }
    claimed.file.sync_all().map_err(io("sync", image_bytes))?;
    let sha256 = hex(&hasher.finalize());
    let write_seconds = started.elapsed().as_secs_f64();

    progress(&tr(lang, Msg::FlashVerifying, &[("disk", &disk.name)]));
    let started = Instant::now();
    let mut readback = Sha256::new();
    let mut offset = 0u64;
    while offset < image_bytes {
        let len = (image_bytes - offset).min(WINDOW);
        let slice = &mut buf.as_mut_slice()[..len.next_multiple_of(512) as usize];
        rawio::read_exact_at(&claimed.file, slice, offset).map_err(io("read", offset))?;
        readback.update(&slice[..len as usize]);
        offset += len;
    }
    let readback_sha256 = hex(&readback.finalize());
    let verified = readback_sha256 == sha256;
    progress(&if verified {
        tr(lang, Msg::FlashDone, &[("sha256", &sha256)])
    } else {
        tr(lang, Msg::FlashMismatch, &[])
    });
    Ok(FlashReport {
        image: image.to_path_buf(),
        disk,
        image_bytes,
        written_bytes: written,
        zeroed_bytes: zeroed,
        sha256,
        readback_sha256,
        verified,
        write_seconds,
        verify_seconds: started.elapsed().as_secs_f64(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
