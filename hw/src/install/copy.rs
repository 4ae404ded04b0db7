//! The byte ranges of an install: what goes where on the target, copied through `O_DIRECT`
//! with a SHA-256 of what was written, then read back from the target and compared.
//!
//! A range's content comes from the source disk (GRUB's core image, the booted system slot),
//! from memory (the edited EFI partition) or is zeros (the head of slot B and the data
//! partition, so that no file system of the disk's previous life shows through them: the
//! installed box formats its data partition only when it holds none).
//! Only the squashfs's used bytes are copied into slot A (`bytes_used` of its superblock,
//! rounded up to 4 KiB), not the whole slot.
//!
//! Invariants: offsets and lengths are multiples of 4096 (the layout check guarantees it
//! for partitions), so every transfer suits `O_DIRECT`; the read-back goes through the
//! target's `O_DIRECT` handle, so it reads the medium, not the page cache.

use std::fs::File;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rawio::{self, AlignedBuf};

const WINDOW: usize = 4 << 20;
const SQUASHFS_MAGIC: u32 = 0x7371_7368;

/// Where a range's bytes come from.
pub enum Content<'a> {
    /// The source disk, from this byte offset.
    Disk {
        file: &'a File,
        offset: u64,
    },
    Bytes(&'a [u8]),
    Zeros,
}

/// One range of the target to fill.
pub struct Range<'a> {
    /// The partition it belongs to (`panier-system-a`), or `mbr`.
    pub partition: &'static str,
    pub target_offset: u64,
    pub len: u64,
    pub content: Content<'a>,
}

/// What was written and verified, for the install report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copied {
    pub partition: String,
    pub target_offset: u64,
    pub bytes: u64,
    pub sha256: String,
    pub readback_sha256: String,
}

/// A failed transfer: which side, at which offset.
#[derive(Debug)]
pub struct IoFailure {
    pub on_target: bool,
    pub operation: &'static str,
    pub offset: u64,
    pub source: std::io::Error,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes a squashfs image occupies (from its superblock, rounded up to 4 KiB), or why
/// `superblock` is not one.
pub fn squashfs_bytes(superblock: &[u8]) -> Result<u64, String> {
    let u32_at = |o: usize| u32::from_le_bytes(superblock[o..o + 4].try_into().expect("4 bytes"));
    if superblock.len() < 96 || u32_at(0) != SQUASHFS_MAGIC {
        return Err("it does not start with a squashfs superblock".into());
    }
    let major = u16::from_le_bytes([superblock[28], superblock[29]]);
    if major != 4 {
        return Err(format!("squashfs version {major}, not 4"));
    }
    let used = u64::from_le_bytes(superblock[40..48].try_into().expect("8 bytes"));
    Ok(used.next_multiple_of(4096))
}

/// Writes `range` onto `target`; returns the SHA-256 of what was written. `on_bytes` is
/// called with the bytes done after each window.
pub fn write(
    target: &File,
    range: &Range,
    buf: &mut AlignedBuf,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<String, IoFailure> {
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    while done < range.len {
        let len = (range.len - done).min(WINDOW as u64) as usize;
        let slice = &mut buf.as_mut_slice()[..len];
        match &range.content {
            Content::Disk { file, offset } => rawio::read_exact_at(file, slice, offset + done)
                .map_err(|source| IoFailure {
                    on_target: false,
                    operation: "read",
                    offset: offset + done,
                    source,
                })?,
            Content::Bytes(bytes) => {
                slice.copy_from_slice(&bytes[done as usize..done as usize + len])
            }
            Content::Zeros => slice.fill(0),
        }
        hasher.update(&*slice);
        let at = range.target_offset + done;
        rawio::write_all_at(target, slice, at).map_err(|source| IoFailure {
            on_target: true,
            operation: "write",
            offset: at,
            source,
        })?;
        done += len as u64;
        on_bytes(len as u64);
    }
    Ok(hex(&hasher.finalize()))
}

/// Reads `len` bytes at `offset` of `target` back; returns their SHA-256.
pub fn read_back(
    target: &File,
    offset: u64,
    len: u64,
    buf: &mut AlignedBuf,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<String, IoFailure> {
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(WINDOW as u64) as usize;
        let slice = &mut buf.as_mut_slice()[..n];
        rawio::read_exact_at(target, slice, offset + done).map_err(|source| IoFailure {
            on_target: true,
            operation: "read back",
            offset: offset + done,
            source,
        })?;
        hasher.update(&*slice);
        done += n as u64;
        on_bytes(n as u64);
    }
    Ok(hex(&hasher.finalize()))
}

/// A buffer for [`write`] and [`read_back`].
pub fn buffer() -> AlignedBuf {
    AlignedBuf::new(WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squashfs_used_bytes_come_from_the_superblock() {
        let mut sb = vec![0u8; 4096];
        sb[0..4].copy_from_slice(&SQUASHFS_MAGIC.to_le_bytes());
        sb[28..30].copy_from_slice(&4u16.to_le_bytes());
        sb[40..48].copy_from_slice(&(10_000u64).to_le_bytes());
        assert_eq!(squashfs_bytes(&sb), Ok(12_288));
        sb[28] = 3;
        assert!(squashfs_bytes(&sb).unwrap_err().contains("version 3"));
        assert!(squashfs_bytes(&[0u8; 4096]).is_err());
    }
}
