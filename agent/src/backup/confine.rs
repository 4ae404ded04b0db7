//! Keeping a restore inside what it restores: a repository may have been written by someone
//! else (an adopted target, a disk found in a drawer), so nothing in a snapshot is trusted.
//!
//! Two checks, both before anything of the box's is replaced:
//! - [`plan`] (pure): each path the snapshot lists must map, through its `datadir=` tag, onto
//!   one of the places allowed for it ([`Allowed`]): a service's own volumes, or the box
//!   state's folders for the state snapshot. `..`, relative paths and anything else (the TLS
//!   keys, the database, another service's data) refuse the whole restore.
//! - [`check_tree`]: what restic wrote into the temporary tree must be a plain directory
//!   whose symbolic links all stay inside it (relative, resolving within the tree) and that
//!   holds no device nodes; the path leading to it, and the destination's parents, hold no
//!   symbolic link. So no volume can become a link to the host's root that the next
//!   container start would mount, and no link inside one leads the box's own programs out.

use super::BackupError;
use std::path::{Component, Path, PathBuf};

/// Where one snapshot may write.
#[derive(Debug, Clone)]
pub enum Allowed {
    /// Exactly these directories (a service's volumes, the box state's folders).
    Exactly(Vec<PathBuf>),
    /// One folder level under `<dir>` (the volumes of a service restored with the whole box,
    /// whose list is in the database being restored): `<dir>/<name>`.
    ChildrenOf(PathBuf),
}

/// One move of a restore: `from` (relative to the temporary tree) to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: PathBuf,
    pub to: PathBuf,
}

fn refused(what: String) -> BackupError {
    BackupError::Confined(what)
}

/// An absolute path made only of normal components (no `.`, `..`).
fn plain_absolute(p: &Path) -> bool {
    p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// Maps the snapshot's `paths` (saved under `old_data_dir`) into `data_dir`, refusing any
/// that would land outside `allowed`. Pure.
pub fn plan(
    paths: &[PathBuf],
    old_data_dir: &Path,
    data_dir: &Path,
    allowed: &Allowed,
) -> Result<Vec<Move>, BackupError> {
    if !plain_absolute(old_data_dir) {
        return Err(refused(format!(
            "the snapshot's data directory {} is not a plain absolute path",
            old_data_dir.display()
        )));
    }
    if paths.is_empty() {
        return Err(refused("the snapshot lists no path".into()));
    }
    let mut moves = Vec::new();
    for path in paths {
        if !plain_absolute(path) {
            return Err(refused(format!(
                "{} is not a plain absolute path",
                path.display()
            )));
        }
        let rel = path.strip_prefix(old_data_dir).map_err(|_| {
            refused(format!(
                "{} is outside the saved data directory {}",
                path.display(),
                old_data_dir.display()
            ))
        })?;
        let to = data_dir.join(rel);
        let ok = match allowed {
            Allowed::Exactly(list) => list.contains(&to),
            Allowed::ChildrenOf(dir) => to.parent() == Some(dir.as_path()) && to != *dir,
        };
        if !ok {
            return Err(refused(format!(
                "{} would be restored to {}, which this snapshot may not write",
                path.display(),
                to.display()
            )));
        }
        moves.push(Move {
            from: path.strip_prefix("/").unwrap_or(path).to_owned(),
            to,
        });
    }
    Ok(moves)
}

/// Whether any component of `path` below `root` is a symbolic link (`root` itself excluded).
fn link_on_the_way(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    let mut cur = root.to_owned();
    for c in rel.components() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => return Some(cur),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Where a link at `link` (inside `root`) pointing to `target` leads, lexically; `None` when
/// it leaves `root` or is absolute.
fn resolves_inside(root: &Path, link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let Some(parent) = link.parent().and_then(|p| p.strip_prefix(root).ok()) else {
        return false;
    };
    let mut depth: Vec<&std::ffi::OsStr> = parent
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    for c in target.components() {
        match c {
            Component::Normal(n) => depth.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Checks the restored tree at `tmp/<m.from>` and the way to `m.to` (see the module doc).
pub fn check_tree(tmp: &Path, data_dir: &Path, m: &Move) -> Result<(), BackupError> {
    let from = tmp.join(&m.from);
    if let Some(link) = link_on_the_way(tmp, &from) {
        return Err(refused(format!(
            "the snapshot's {} is a symbolic link",
            link.strip_prefix(tmp).unwrap_or(&link).display()
        )));
    }
    let meta = std::fs::symlink_metadata(&from).map_err(|_| {
        refused(format!(
            "the snapshot holds nothing at /{}",
            m.from.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(refused(format!(
            "the snapshot's /{} is not a folder",
            m.from.display()
        )));
    }
    if let Some(link) = link_on_the_way(data_dir, &m.to) {
        return Err(refused(format!(
            "{} on the box is a symbolic link",
            link.display()
        )));
    }
    let mut stack = vec![from.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(super::io("reading", &dir))?;
        for entry in entries {
            let entry = entry.map_err(super::io("reading", &dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(super::io("reading", &path))?;
            let shown = || format!("/{}", path.strip_prefix(tmp).unwrap_or(&path).display());
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).map_err(super::io("reading", &path))?;
                if !resolves_inside(&from, &path, &target) {
                    return Err(refused(format!(
                        "the link {} leads out of what it restores ({})",
                        shown(),
                        target.display()
                    )));
                }
            } else {
                use std::os::unix::fs::FileTypeExt;
                if kind.is_block_device() || kind.is_char_device() {
                    return Err(refused(format!("{} is a device node", shown())));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn paths_outside_what_is_restored_are_refused() {
        let vol = Allowed::Exactly(vec![p("/data/apps/notes/volumes/db")]);
        let ok = plan(
            &[p("/old/apps/notes/volumes/db")],
            &p("/old"),
            &p("/data"),
            &vol,
        )
        .unwrap();
        assert_eq!(ok[0].to, p("/data/apps/notes/volumes/db"));
        assert_eq!(ok[0].from, p("old/apps/notes/volumes/db"));
        for (paths, old) in [
            (vec![p("/old/tls")], "/old"),
            (vec![p("/old/apps/other/volumes/db")], "/old"),
            (
                vec![p("/old/apps/notes/volumes/db/../../../../tls")],
                "/old",
            ),
            (vec![p("/old/../etc")], "/old"),
            (vec![p("relative/db")], "/old"),
            (vec![p("/etc/cron.d")], "/"),
            (vec![p("/x/apps/notes/volumes/db")], "/x/../x"),
            (vec![], "/old"),
        ] {
            assert!(
                matches!(
                    plan(&paths, &p(old), &p("/data"), &vol),
                    Err(BackupError::Confined(_))
                ),
                "{paths:?} from {old}"
            );
        }
        let children = Allowed::ChildrenOf(p("/data/apps/notes/volumes"));
        assert!(
            plan(
                &[p("/o/apps/notes/volumes/db")],
                &p("/o"),
                &p("/data"),
                &children
            )
            .is_ok()
        );
        assert!(
            plan(
                &[p("/o/apps/notes/volumes")],
                &p("/o"),
                &p("/data"),
                &children
            )
            .is_err()
        );
    }

    #[test]
    fn links_must_stay_inside() {
        let root = p("/t/vol");
        assert!(resolves_inside(&root, &p("/t/vol/a/l"), &p("../b")));
        assert!(resolves_inside(&root, &p("/t/vol/l"), &p("b/c")));
        assert!(!resolves_inside(&root, &p("/t/vol/l"), &p("../x")));
        assert!(!resolves_inside(&root, &p("/t/vol/a/l"), &p("../../x")));
        assert!(!resolves_inside(&root, &p("/t/vol/l"), &p("/etc")));
    }
}
