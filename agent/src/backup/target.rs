//! Backup targets: where a repository lives and how to reach it.
//!
//! - `folder`: a directory on the box (tests, trainees, a mounted NAS share).
//! - `usb`: a USB disk, known by its file-system UUID, mounted under
//!   `/run/panier/usb/<uuid>` only while a backup or restore uses it (so it can be unplugged
//!   and carried away safely the rest of the time). Plugged disks are found through `lsblk`
//!   (which reads /sys and udev's database) and offered with their size and label;
//!   formatting (one ext4 partition) happens only on the admin's confirmation.
//! - `sftp`: another machine over SSH with the box's own key (`<data>/backup/ssh/id_ed25519`,
//!   created on first use; its public half is shown to be added to the remote account).
//! - `rest`: a restic REST server URL.
//!
//! Invariant: a target that is absent when used gives [`TargetError::Missing`], never a new
//! empty repository somewhere else (a folder target's directory is not re-created).

use super::restic::Repo;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a target is, by kind. Stored as JSON in `backup_targets.location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Location {
    Folder {
        #[schema(value_type = String)]
        path: PathBuf,
    },
    Usb {
        uuid: String,
        label: String,
    },
    Sftp {
        user: String,
        host: String,
        #[serde(default = "ssh_port")]
        port: u16,
        path: String,
    },
    Rest {
        url: String,
    },
}

fn ssh_port() -> u16 {
    22
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the backup target {0} is missing (unplugged, unmounted or removed)")]
    Missing(String),
    #[error("invalid backup target: {0}")]
    Invalid(String),
    #[error("{op} failed: {detail}")]
    Command { op: String, detail: String },
}

impl Location {
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Folder { .. } => "folder",
            Location::Usb { .. } => "usb",
            Location::Sftp { .. } => "sftp",
            Location::Rest { .. } => "rest",
        }
    }

    /// Checks the fields so nothing odd reaches a command line.
    pub fn validate(&self) -> Result<(), TargetError> {
        let plain = |s: &str, what: &str| {
            if s.is_empty()
                || s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"')
                || s.starts_with('-')
            {
                Err(TargetError::Invalid(format!(
                    "{what} '{s}' is empty or holds spaces or quotes"
                )))
            } else {
                Ok(())
            }
        };
        match self {
            Location::Folder { path } => {
                if !path.is_absolute() {
                    return Err(TargetError::Invalid(format!(
                        "the folder {} must be an absolute path",
                        path.display()
                    )));
                }
                plain(&path.display().to_string(), "folder")
            }
            Location::Usb { uuid, .. } => {
                if uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') && !uuid.is_empty() {
                    Ok(())
                } else {
                    Err(TargetError::Invalid(format!(
                        "'{uuid}' is not a file-system UUID"
                    )))
                }
            }
            Location::Sftp {
                user, host, path, ..
            } => {
                plain(user, "user")?;
                plain(host, "host")?;
                plain(path, "path")
            }
            Location::Rest { url } => {
                plain(url, "URL")?;
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(())
                } else {
                    Err(TargetError::Invalid(format!(
                        "'{url}' is not an http(s) URL"
                    )))
                }
            }
        }
    }

    /// Where the target is, for people (the kit, the UI).
    pub fn describe(&self) -> String {
        match self {
            Location::Folder { path } => path.display().to_string(),
            Location::Usb { uuid, label } => format!("USB « {label} » (UUID {uuid})"),
            Location::Sftp {
                user,
                host,
                port,
                path,
            } => format!("sftp://{user}@{host}:{port}{path}"),
            Location::Rest { url } => url.clone(),
        }
    }

    /// The repository argument for plain restic, as the emergency kit prints it.
    pub fn restic_url_for_kit(&self) -> String {
        match self {
            Location::Folder { path } => path.display().to_string(),
            Location::Usb { .. } => "/media/<disque>/panier-backup".to_owned(),
            Location::Sftp {
                user, host, path, ..
            } => format!("sftp:{user}@{host}:{path}"),
            Location::Rest { url } => format!("rest:{url}"),
        }
    }
}

/// Paths the targets use on this box.
#[derive(Debug, Clone)]
pub struct Places {
    /// `<data>/backup/ssh`: the box's SSH key for SFTP targets.
    pub ssh_dir: PathBuf,
    /// Where USB disks are mounted while in use.
    pub usb_mount_root: PathBuf,
}

impl Places {
    pub fn new(data_dir: &Path) -> Places {
        let usb = std::env::var_os("PANIER_USB_MOUNT_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/run/panier/usb".into());
        Places {
            ssh_dir: data_dir.join("backup/ssh"),
            usb_mount_root: usb,
        }
    }

    pub fn ssh_key(&self) -> PathBuf {
        self.ssh_dir.join("id_ed25519")
    }

    /// The box's public SSH key, creating the pair on first use.
    pub fn ssh_public_key(&self) -> Result<String, TargetError> {
        let key = self.ssh_key();
        if !key.exists() {
            std::fs::create_dir_all(&self.ssh_dir)
                .map_err(|e| cmd_err("creating the SSH key folder", e))?;
            run(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "panier-backup", "-f"])
                    .arg(&key),
                "ssh-keygen",
            )?;
        }
        std::fs::read_to_string(key.with_extension("pub"))
            .map(|s| s.trim().to_owned())
            .map_err(|e| cmd_err("reading the public SSH key", e))
    }
}

fn cmd_err(op: &str, e: impl std::fmt::Display) -> TargetError {
    TargetError::Command {
        op: op.to_owned(),
        detail: e.to_string(),
    }
}

fn run(cmd: &mut Command, op: &str) -> Result<String, TargetError> {
    let out = cmd.output().map_err(|e| cmd_err(op, e))?;
    if !out.status.success() {
        return Err(cmd_err(op, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A target made ready for use; unmounts a USB disk when dropped.
pub struct Opened {
    pub repo: Repo,
    mount: Option<PathBuf>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            if let Err(e) = run(Command::new("umount").arg(&m), "umount") {
                log::warn!("cannot unmount the backup disk at {}: {e}", m.display());
            } else {
                let _ = std::fs::remove_dir(&m);
            }
        }
    }
}

/// Makes the target reachable (mounting a USB disk) and returns its repository.
/// `create`: whether a folder target's directory may be created (only when adding it).
pub fn open(
    location: &Location,
    password: &str,
    places: &Places,
    create: bool,
) -> Result<Opened, TargetError> {
    let repo = |url: String, options: Vec<String>| Repo {
        url,
        password: password.to_owned(),
        options,
    };
    match location {
        Location::Folder { path } => {
            // The parent must exist (a mount point); the repository folder itself is made by
            // `restic init` when the target is added, and must exist afterwards.
            let ok = if create {
                path.parent().is_some_and(Path::is_dir)
            } else {
                path.join("config").is_file()
            };
            if !ok {
                return Err(TargetError::Missing(path.display().to_string()));
            }
            Ok(Opened {
                repo: repo(path.display().to_string(), vec![]),
                mount: None,
            })
        }
        Location::Usb { uuid, .. } => {
            let dev = PathBuf::from("/dev/disk/by-uuid").join(uuid);
            if !dev.exists() {
                return Err(TargetError::Missing(location.describe()));
            }
            let mount = places.usb_mount_root.join(uuid);
            std::fs::create_dir_all(&mount).map_err(|e| cmd_err("creating the mount point", e))?;
            let mounted = std::fs::read_to_string("/proc/self/mounts")
                .unwrap_or_default()
                .lines()
                .any(|l| l.split(' ').nth(1) == Some(&*mount.to_string_lossy()));
            if !mounted {
                run(
                    Command::new("mount")
                        .arg(format!("UUID={uuid}"))
                        .arg(&mount),
                    "mount",
                )?;
            }
            let dir = mount.join("panier-backup");
            if !create && !dir.join("config").is_file() {
                if !mounted {
                    let _ = run(Command::new("umount").arg(&mount), "umount");
                }
                return Err(TargetError::Missing(format!(
                    "{} (no backup repository on it)",
                    location.describe()
                )));
            }
            Ok(Opened {
                repo: repo(dir.display().to_string(), vec![]),
                mount: (!mounted).then_some(mount),
            })
        }
        Location::Sftp {
            user,
            host,
            port,
            path,
        } => {
            places.ssh_public_key()?;
            let known = places.ssh_dir.join("known_hosts");
            let command = format!(
                "ssh -p {port} -i {} -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={} {user}@{host} -s sftp",
                places.ssh_key().display(),
                known.display()
            );
            Ok(Opened {
                repo: repo(
                    format!("sftp:{user}@{host}:{path}"),
                    vec![format!("sftp.command={command}")],
                ),
                mount: None,
            })
        }
        Location::Rest { url } => Ok(Opened {
            repo: repo(format!("rest:{url}"), vec![]),
            mount: None,
        }),
    }
}

pub use crate::usb::{UsbDisk, usb_disks, usb_disks_from_lsblk};

/// Formats `device` (a whole disk, e.g. `/dev/sdb`, or a loop device in tests) with one ext4
/// file system labelled `label`; returns its UUID. Destroys what the disk held: callers ask
/// for confirmation first.
pub fn format_disk(device: &Path, label: &str) -> Result<String, TargetError> {
    let label: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(16)
        .collect();
    run(Command::new("wipefs").arg("-a").arg(device), "wipefs")?;
    run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", &label, "-m", "0"])
            .arg(device),
        "mkfs.ext4",
    )?;
    let _ = Command::new("udevadm").arg("settle").status();
    let uuid = run(
        Command::new("blkid")
            .args(["-s", "UUID", "-o", "value"])
            .arg(device),
        "blkid",
    )?
    .trim()
    .to_owned();
    if uuid.is_empty() {
        return Err(cmd_err("blkid", "the new file system has no UUID"));
    }
    Ok(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_fields_are_refused() {
        assert!(
            Location::Folder {
                path: "relative".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Location::Sftp {
                user: "a b".into(),
                host: "h".into(),
                port: 22,
                path: "/x".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Location::Usb {
                uuid: "$(rm)".into(),
                label: "x".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Location::Rest {
                url: "ftp://x".into()
            }
            .validate()
            .is_err()
        );
        assert!(
            Location::Sftp {
                user: "panier".into(),
                host: "nas.local".into(),
                port: 22,
                path: "/srv/b".into()
            }
            .validate()
            .is_ok()
        );
    }
}
