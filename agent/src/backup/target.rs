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

pub use super::location::Location;
use super::restic::Repo;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the backup target {0} is missing (unplugged, unmounted or removed)")]
    Missing(String),
    #[error("invalid backup target: {0}")]
    Invalid(String),
    /// A field that may not reach a program (`location.rs`), with its own key.
    #[error("invalid backup target: {0}")]
    Field(#[from] crate::names::Invalid),
    #[error("{op} failed: {detail}")]
    Command { op: String, detail: String },
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

    /// Writes the ssh configuration for one SFTP target (user and host already checked by
    /// `Location::validate`) and returns its path. One file per target, named by a hash of
    /// its user, host and port, rewritten at each use.
    pub fn ssh_config(&self, user: &str, host: &str, port: u16) -> Result<PathBuf, TargetError> {
        use sha2::Digest;
        for p in [&self.ssh_dir, &self.ssh_key()] {
            if !plain_path(p) {
                return Err(cmd_err(
                    "preparing the SFTP command",
                    format!(
                        "the path {} holds characters restic's SFTP command cannot carry; use a data directory made of letters, digits, '/', '.', '_' and '-'",
                        p.display()
                    ),
                ));
            }
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let id = hex::encode(&sha2::Sha256::digest(format!("{user}@{host}:{port}"))[..8]);
        let path = self.ssh_dir.join(format!("config-{id}"));
        let text = format!(
            "# Written by the panier agent for one SFTP backup target; rewritten at each use.\n\
             Host {SSH_ALIAS}\n  HostName {host}\n  User {user}\n  Port {port}\n  \
             IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             BatchMode yes\n  StrictHostKeyChecking accept-new\n  ProxyCommand none\n  \
             PermitLocalCommand no\n  ControlPath none\n",
            self.ssh_key().display(),
            self.ssh_dir.join("known_hosts").display()
        );
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|e| cmd_err("writing the SFTP target's ssh configuration", e))?;
        Ok(path)
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

/// The host alias of every SFTP target in its ssh configuration file.
const SSH_ALIAS: &str = "panier-backup-target";

/// A path restic's command splitting leaves whole: no space, quote or backslash.
fn plain_path(p: &Path) -> bool {
    p.to_str().is_some_and(|s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    })
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
    location.validate()?;
    let repo = |url: String, options: Vec<String>| Repo {
        url,
        shown: location.describe(),
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
                // A backup disk carries data only: nothing on it runs, no device or set-uid
                // file on it counts (a disk can be swapped for a prepared one).
                run(
                    Command::new("mount")
                        .args(["-o", "nosuid,nodev,noexec"])
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
            let config = places.ssh_config(user, host, *port)?;
            // The command restic splits holds only the box's own paths (checked to be plain);
            // the user and host are in the configuration file, read by ssh as data. The
            // repository's host is the file's alias, so restic's URL holds no user value
            // either, except the path (which restic sends over the SFTP protocol).
            let command = format!("ssh -F {} {SSH_ALIAS} -s sftp", config.display());
            Ok(Opened {
                repo: repo(
                    format!("sftp:{SSH_ALIAS}:{path}"),
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
