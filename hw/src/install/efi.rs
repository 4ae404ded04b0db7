//! The installed box's EFI partition: the source's, edited in memory before it is written.
//!
//! Owns what changes between the stick's EFI partition and the box's: the stick's own
//! `panier/` provisioning folder is removed (it may hold the workshop's SSH keys or network
//! settings), the new box's `panier/box_name` and `panier/setup_code` are written (read at
//! its first boot by `buildroot-overlay/usr/libexec/panier/provision`), and GRUB's
//! environment block `EFI/BOOT/grubenv` is reset to slot A, good, no tries (RAUC's GRUB
//! contract, see `image/board/x86_64/grub.cfg`).
//!
//! Why in memory with the `fatfs` crate rather than by mounting: the target is held with an
//! exclusive open for the whole install, which forbids mounting its partitions (and a mount
//! would be one more thing to undo on failure); a loop mount of a copy needs root, the loop
//! driver and vfat in the running kernel (the build machines have no vfat), and mtools is not
//! in the image. 32 MiB in memory is cheap, and the bytes written are exactly the bytes
//! verified.
//!
//! Invariants: `grubenv` is rewritten in place (same clusters, 1024 bytes), because GRUB's
//! `save_env` writes the file's existing sectors; a source without it is not a Panier disk.
//! The result passes `fsck.vfat -n`: fatfs 0.3.6 writes a long-name entry before the `.` and
//! `..` entries of a directory it creates, which `fsck.vfat -a` (run on the EFI partition at
//! every boot by `panier-disk`) would "repair" by renaming and deleting entries, so
//! [`fix_dot_entries`] puts `.` and `..` first again.
//! Limits: the FAT volume serial stays the stick's (nothing mounts the EFI partition by it).

use std::io::{Cursor, Read, Seek, SeekFrom, Write};

const GRUBENV: &str = "EFI/BOOT/grubenv";
const GRUBENV_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum EfiError {
    #[error("the EFI partition holds no FAT file system fatfs can read: {0}")]
    NotFat(std::io::Error),
    #[error("the EFI partition has no {GRUBENV} of {GRUBENV_BYTES} bytes")]
    NoGrubenv,
    #[error("editing the EFI partition's {path} failed: {source}")]
    Edit {
        path: String,
        source: std::io::Error,
    },
}

/// GRUB's environment block with slot A good and no tries counted, slot B not bootable.
pub fn grubenv_slot_a() -> Vec<u8> {
    let mut block =
        b"# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=0\nB_TRY=0\n".to_vec();
    block.resize(GRUBENV_BYTES, b'#');
    block
}

/// The file system's content under `name` of `dir`, recursively removed.
fn remove_tree<T: fatfs::ReadWriteSeek>(dir: &fatfs::Dir<T>, name: &str) -> std::io::Result<()> {
    let sub = dir.open_dir(name)?;
    for entry in sub.iter() {
        let entry = entry?;
        let child = entry.file_name();
        if child == "." || child == ".." {
            continue;
        }
        if entry.is_dir() {
            remove_tree(&sub, &child)?;
        } else {
            sub.remove(&child)?;
        }
    }
    dir.remove(name)
}

/// Edits the EFI partition image `image` for the new box (see the module doc).
pub fn provision(image: Vec<u8>, box_name: &str, setup_code: &str) -> Result<Vec<u8>, EfiError> {
    let mut disk = Cursor::new(image);
    {
        let fs =
            fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).map_err(EfiError::NotFat)?;
        let root = fs.root_dir();
        let edit = |path: &str| {
            let path = path.to_string();
            move |source| EfiError::Edit { path, source }
        };
        let mut env = root.open_file(GRUBENV).map_err(|_| EfiError::NoGrubenv)?;
        let len = env.seek(SeekFrom::End(0)).map_err(edit(GRUBENV))?;
        if len != GRUBENV_BYTES as u64 {
            return Err(EfiError::NoGrubenv);
        }
        env.seek(SeekFrom::Start(0)).map_err(edit(GRUBENV))?;
        env.write_all(&grubenv_slot_a())
            .and_then(|()| env.flush())
            .map_err(edit(GRUBENV))?;
        drop(env);
        match root.open_dir("panier") {
            Ok(_) => remove_tree(&root, "panier").map_err(edit("panier/"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(edit("panier/")(e)),
        }
        let dir = root.create_dir("panier").map_err(edit("panier/"))?;
        for (file, value) in [("box_name", box_name), ("setup_code", setup_code)] {
            let mut f = dir.create_file(file).map_err(edit(file))?;
            f.truncate()
                .and_then(|()| f.write_all(format!("{value}\n").as_bytes()))
                .and_then(|()| f.flush())
                .map_err(edit(file))?;
        }
        drop(dir);
        drop(root);
        fs.unmount().map_err(EfiError::NotFat)?;
    }
    let mut image = disk.into_inner();
    fix_dot_entries(&mut image);
    Ok(image)
}

const ENTRY: usize = 32;
const DELETED: u8 = 0xE5;
const LFN: u8 = 0x0F;

/// Rewrites every directory cluster that starts `[long name, ".", long name, ".."]` (what
/// fatfs 0.3.6 makes) as `[".", "..", deleted, deleted]`. Returns how many it fixed.
pub fn fix_dot_entries(image: &mut [u8]) -> usize {
    if image.len() < 512 {
        return 0;
    }
    let u16_at = |o: usize| u16::from_le_bytes([image[o], image[o + 1]]) as usize;
    let (sector, per_cluster, reserved, fats, root_entries) = (
        u16_at(11),
        image[13] as usize,
        u16_at(14),
        image[16] as usize,
        u16_at(17),
    );
    let fat_sectors = match u16_at(22) {
        0 => u32::from_le_bytes(image[36..40].try_into().expect("4 bytes")) as usize,
        n => n,
    };
    if sector == 0 || per_cluster == 0 {
        return 0;
    }
    let data_start =
        (reserved + fats * fat_sectors + (root_entries * ENTRY).div_ceil(sector)) * sector;
    let cluster = sector * per_cluster;
    let is = |e: &[u8], name: &[u8; 11]| e[..11] == *name && e[11] & 0x10 != 0;
    let mut fixed = 0;
    let mut at = data_start;
    while at + 4 * ENTRY <= image.len() {
        let head = &image[at..at + 4 * ENTRY];
        let (e0, e1, e2, e3) = (
            &head[..ENTRY],
            &head[ENTRY..2 * ENTRY],
            &head[2 * ENTRY..3 * ENTRY],
            &head[3 * ENTRY..],
        );
        if e0[11] == LFN && is(e1, b".          ") && e2[11] == LFN && is(e3, b"..         ") {
            let (dot, dotdot) = (e1.to_vec(), e3.to_vec());
            image[at..at + ENTRY].copy_from_slice(&dot);
            image[at + ENTRY..at + 2 * ENTRY].copy_from_slice(&dotdot);
            for slot in [2, 3] {
                let e = &mut image[at + slot * ENTRY..at + (slot + 1) * ENTRY];
                e.fill(0);
                e[0] = DELETED;
            }
            fixed += 1;
        }
        at += cluster;
    }
    fixed
}

/// A file of a FAT image, if it holds one at `path` (for checks and tests).
pub fn read_file(image: &[u8], path: &str) -> Option<Vec<u8>> {
    let mut disk = Cursor::new(image.to_vec());
    let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).ok()?;
    let mut file = fs.root_dir().open_file(path).ok()?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_block_is_grubs_format() {
        let block = grubenv_slot_a();
        assert_eq!(block.len(), 1024);
        let text = String::from_utf8(block).unwrap();
        assert!(text.starts_with("# GRUB Environment Block\nORDER=A B\nA_OK=1\n"));
        assert!(text.ends_with("##"));
    }
}
