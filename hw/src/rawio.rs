//! Raw block I/O shared by wipe, flash and the disk self-test: page-aligned buffers for
//! `O_DIRECT`, positioned reads and writes, and the block-layer ioctls (size, discard,
//! zero-out).
//!
//! Invariants: every transfer through [`AlignedBuf`] starts at a 4096-byte aligned address
//! and has a length that is a multiple of 512 bytes, which is what `O_DIRECT` needs on the
//! logical block sizes Linux supports (512 and 4096; callers round offsets to 4096).
//! Reads through an `O_DIRECT` handle come from the device, never from the page cache, so a
//! verification after a write really reads the medium.
//!
//! Limits: the ioctls are Linux-only; a device without discard or write-zeroes support
//! reports `Unsupported` and the caller falls back to plain writes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

pub const ALIGN: usize = 4096;

// Linux <linux/fs.h> block ioctls.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
const BLKDISCARD: libc::c_ulong = 0x1277;
const BLKZEROOUT: libc::c_ulong = 0x127f;
const BLKRRPART: libc::c_ulong = 0x125f;

/// A zero-initialised buffer whose data starts on a 4096-byte boundary.
pub struct AlignedBuf {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Self {
        let storage = vec![0u8; len + ALIGN];
        let offset = storage.as_ptr().align_offset(ALIGN);
        Self {
            storage,
            offset,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.offset..self.offset + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

/// Size in bytes of an open block device (or regular file).
pub fn device_size(file: &File) -> io::Result<u64> {
    let meta = file.metadata()?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer we pass.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

fn range_ioctl(file: &File, request: libc::c_ulong, offset: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [offset, len];
    // SAFETY: these ioctls read a [u64; 2] (start, length) through the pointer.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request, range.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Tells the device the range is unused (TRIM/UNMAP). Content afterwards is unspecified.
pub fn discard(file: &File, offset: u64, len: u64) -> io::Result<()> {
    range_ioctl(file, BLKDISCARD, offset, len)
}

/// Makes the range read as zeros, using the device's write-zeroes command when it has one.
pub fn zero_out(file: &File, offset: u64, len: u64) -> io::Result<()> {
    range_ioctl(file, BLKZEROOUT, offset, len)
}

/// Asks the kernel to re-read the disk's partition table. With an exclusive handle (ours
/// after the safety gate) the kernel accepts it while nobody else uses the disk.
pub fn reread_partitions(file: &File) -> io::Result<()> {
    // SAFETY: BLKRRPART takes no argument.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKRRPART) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn is_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY) | Some(libc::EINVAL)
    )
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

/// Offset of the first non-zero byte, if any (word-at-a-time: GB/s, fine for verification).
pub fn first_nonzero(buf: &[u8]) -> Option<usize> {
    let chunks = buf.chunks_exact(8);
    let tail_start = buf.len() - chunks.remainder().len();
    for (i, chunk) in chunks.enumerate() {
        if u64::from_ne_bytes(chunk.try_into().expect("8-byte chunk")) != 0 {
            return chunk.iter().position(|&b| b != 0).map(|j| i * 8 + j);
        }
    }
    buf[tail_start..]
        .iter()
        .position(|&b| b != 0)
        .map(|j| tail_start + j)
}
