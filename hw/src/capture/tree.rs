//! The `root/` tree of a capture: every file, directory and link a recorded probe touched,
//! at the place the probe found it.
//!
//! Under `/sys` the kernel's symbolic links are kept as links with their own (relative)
//! targets, and what they lead to is written where they lead: the probe tells a USB disk by
//! where `/sys/block/sdb` points, and a driver by the name `device/driver` points to. Outside
//! `/sys` (`/proc`, `/run/udev`) paths are written as the probe named them, so
//! `/proc/self/mountinfo` stays a file under `proc/self/`, not under a process number.
//!
//! What is written: the bytes each read returned (the first read when a file was read twice);
//! for a file that exists but could not be read, an empty file and its path in
//! [`Tree::unreadable`] (`unreadable.txt`: a fixture fails to read it, as root cannot make a
//! file it can read unreadable); an empty file for a file whose existence only was checked;
//! a directory for a directory that was listed or checked; for a listed directory, its
//! entries that are links (sysfs's `slaves/`, `holders/` and class directories hold links,
//! and the probe uses their names). Plain entries of a listed directory that the probe never
//! looked into are left out: it only filters on them.

use std::io;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use crate::host::Access;

/// Depth of links followed inside links before giving up (a loop in a broken tree).
const MAX_LINK_DEPTH: u32 = 40;

pub(super) struct Tree<'a> {
    /// The filesystem the probe read (`/`, or a fixture's root).
    live: &'a Path,
    /// The capture's `root/`.
    dest: &'a Path,
    /// Applied to every file's bytes before it is written (anonymization).
    edit: &'a dyn Fn(&[u8]) -> Vec<u8>,
    pub files: usize,
    /// System paths of files that exist but could not be read.
    pub unreadable: Vec<String>,
}

impl<'a> Tree<'a> {
    pub fn new(live: &'a Path, dest: &'a Path, edit: &'a dyn Fn(&[u8]) -> Vec<u8>) -> Self {
        Self {
            live,
            dest,
            edit,
            files: 0,
            unreadable: Vec::new(),
        }
    }

    /// Writes what the accesses saw: file contents first, so that an existence check made
    /// before a read does not leave the file empty.
    pub fn write(&mut self, accesses: &[Access]) -> io::Result<()> {
        for access in accesses {
            if let Access::Read {
                path,
                content: Some(bytes),
            } = access
            {
                let at = self.place(path)?;
                self.write_file(&at, &(self.edit)(bytes))?;
            }
        }
        for access in accesses {
            match access {
                Access::Read {
                    path,
                    content: None,
                } if self.live.join(path.trim_start_matches('/')).is_file()
                    && !self.unreadable.contains(path) =>
                {
                    let at = self.place(path)?;
                    self.write_file(&at, b"")?;
                    self.unreadable.push(path.clone());
                }
                Access::Exists { path, exists: true } => {
                    let at = self.place(path)?;
                    if self.live.join(&at).is_dir() {
                        self.make_dir(&at)?;
                    } else {
                        self.write_file(&at, b"")?;
                    }
                }
                Access::List {
                    path,
                    entries: Some(entries),
                } => {
                    let at = self.place(path)?;
                    self.make_dir(&at)?;
                    for name in entries {
                        let entry = at.join(name);
                        if keeps_links(&entry)
                            && let Ok(target) = std::fs::read_link(self.live.join(&entry))
                        {
                            self.make_link(&entry, &target)?;
                        }
                    }
                }
                Access::Link {
                    path,
                    target: Some(target),
                } => {
                    let (parent, name) = split_last(path);
                    let at = self.place(parent)?.join(name);
                    self.make_link(&at, target)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Where `system_path` really is (relative to the root, links resolved), making the
    /// links met on the way.
    fn place(&self, system_path: &str) -> io::Result<PathBuf> {
        self.resolve(
            PathBuf::new(),
            Path::new(system_path.trim_start_matches('/')),
            0,
        )
    }

    fn resolve(&self, start: PathBuf, rest: &Path, depth: u32) -> io::Result<PathBuf> {
        if depth > MAX_LINK_DEPTH {
            return Err(io::Error::other(format!(
                "too many levels of links at {}",
                start.display()
            )));
        }
        let mut at = start;
        for component in rest.components() {
            match component {
                Component::Normal(name) => {
                    let next = at.join(name);
                    if keeps_links(&next)
                        && let Ok(target) = std::fs::read_link(self.live.join(&next))
                    {
                        self.make_link(&next, &target)?;
                        let base = if target.is_absolute() {
                            PathBuf::new()
                        } else {
                            at.clone()
                        };
                        let target_rel = target.strip_prefix("/").unwrap_or(&target).to_path_buf();
                        at = self.resolve(base, &target_rel, depth + 1)?;
                    } else {
                        at = next;
                    }
                }
                Component::ParentDir => {
                    at.pop();
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        Ok(at)
    }

    /// A link at `at` (relative to the root) with the live link's target; absolute targets
    /// are made relative so that they stay inside the capture.
    fn make_link(&self, at: &Path, target: &Path) -> io::Result<()> {
        let target = match target.strip_prefix("/") {
            Ok(inside) => {
                let ups = at.parent().map(|p| p.components().count()).unwrap_or(0);
                (0..ups)
                    .map(|_| PathBuf::from(".."))
                    .collect::<PathBuf>()
                    .join(inside)
            }
            Err(_) => target.to_path_buf(),
        };
        let path = self.dest.join(at);
        match std::fs::read_link(&path) {
            Ok(existing) if existing == target => return Ok(()),
            Ok(existing) => {
                return Err(io::Error::other(format!(
                    "{} links to {} and {}",
                    at.display(),
                    existing.display(),
                    target.display()
                )));
            }
            Err(_) => {}
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| naming(parent, e))?;
        }
        symlink(&target, &path).map_err(|e| naming(&path, e))
    }

    fn write_file(&mut self, at: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = self.dest.join(at);
        if path.symlink_metadata().is_ok() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| naming(parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| naming(&path, e))?;
        self.files += 1;
        Ok(())
    }

    fn make_dir(&self, at: &Path) -> io::Result<()> {
        let path = self.dest.join(at);
        std::fs::create_dir_all(&path).map_err(|e| naming(&path, e))
    }
}

/// The error, saying which path it is about.
pub(super) fn naming(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Links are kept as links in sysfs only (see the module doc).
fn keeps_links(relative: &Path) -> bool {
    relative.starts_with("sys")
}

fn split_last(system_path: &str) -> (&str, &str) {
    let trimmed = system_path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
        None => ("/", trimmed),
    }
}

/// Directories of `root` holding nothing, relative to it, sorted: git keeps no empty
/// directory, so a capture lists them in `empty-dirs.txt` and [`crate::host::Host::fixture`]
/// makes them again.
pub(super) fn empty_dirs(root: &Path) -> io::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
        let mut empty = true;
        for entry in std::fs::read_dir(dir).map_err(|e| naming(dir, e))? {
            let entry = entry.map_err(|e| naming(dir, e))?;
            empty = false;
            if entry.file_type()?.is_dir() {
                walk(root, &entry.path(), out)?;
            }
        }
        if empty && dir != root {
            out.push(
                dir.strip_prefix(root)
                    .unwrap_or(dir)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}
