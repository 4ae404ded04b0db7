//! Packs on plugged USB disks, found as backup disks are (`crate::usb`): each USB file
//! system is mounted read-only under `/run/panier/packs/<uuid>` (`PANIER_PACK_MOUNT_ROOT`
//! in tests), and a pack is its root or any top-level folder holding `pack.json`. A file
//! system with no pack is unmounted at once; one with a pack stays mounted read-only while
//! it is plugged (an install or an import reads it; pulling it out loses nothing), and is
//! unmounted at the first scan after it is gone.

use super::{OpenPack, PackError, Packs};
use crate::usb::UsbFileSystem;
use std::path::{Path, PathBuf};

/// A pack found on a stick: where, and whether it can be used.
#[derive(Debug, Clone)]
pub struct Found {
    pub fs: UsbFileSystem,
    pub dir: PathBuf,
    pub pack: Result<OpenPack, String>,
    /// The same failure's key, for the UI.
    pub problem_key: Option<&'static str>,
}

pub fn mount_root() -> PathBuf {
    std::env::var_os("PANIER_PACK_MOUNT_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/run/panier/packs".into())
}

/// The folders of a mounted file system that hold a pack index.
fn pack_dirs(at: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if at.join(super::index::INDEX).is_file() {
        dirs.push(at.to_owned());
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(at)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    children.sort();
    dirs.extend(
        children
            .into_iter()
            .filter(|p| p.is_dir() && p.join(super::index::INDEX).is_file()),
    );
    dirs
}

impl Packs {
    /// Finds the packs on the USB disks plugged in now (blocking: lsblk, mount, small reads).
    pub fn scan_usb(&self) -> Vec<Found> {
        let root = mount_root();
        let plugged = crate::usb::file_systems();
        // Unmount what this scan mounted earlier and is not plugged any more.
        crate::usb::unmount_unplugged(&root, &plugged);
        let keys = self.keyring();
        let mut found = Vec::new();
        for fs in plugged {
            let (at, mounted_now) = match crate::usb::mount_read_only(&fs, &root) {
                Ok(m) => m,
                Err(e) => {
                    log::debug!("not looking for packs on {}: {e}", fs.device);
                    continue;
                }
            };
            let dirs = pack_dirs(&at);
            if dirs.is_empty() && mounted_now {
                crate::usb::unmount(&at);
            }
            for dir in dirs {
                let opened = match &keys {
                    Ok(k) => super::open::open(&dir, k),
                    Err(e) => Err(PackError::Unreadable {
                        path: dir.clone(),
                        message: e.to_string(),
                    }),
                };
                let problem_key = opened.as_ref().err().map(PackError::key);
                found.push(Found {
                    fs: fs.clone(),
                    dir,
                    pack: opened.map_err(|e| e.to_string()),
                    problem_key,
                });
            }
        }
        found
    }
}
