//! Block devices: identity (model, serial, size, transport), topology (which disk holds
//! which mount, which disk the system runs from) and the safety gate every destructive
//! operation (wipe, flash) goes through.
//!
//! Invariants of [`claim_for_destruction`], the only way to get a writable handle on a disk:
//! - the target is a whole disk (not a partition), named by any path resolving to `/dev/X`;
//! - it is not (and, through dm/md/loop layers, does not back) the disk holding `/`,
//!   `/boot`, `/boot/efi` or `/usr`: refused first, with its own error;
//! - neither it nor its partitions are mounted, used as swap or held by dm/md;
//! - the caller typed the disk's serial (or its kernel name for disks without one, such as
//!   loop devices);
//! - the kernel grants an exclusive open (`O_EXCL`), which independently fails with EBUSY on
//!   any mounted or claimed device, and keeps anyone from mounting it while we hold it.
//!
//! Limits: topology is read from sysfs and `/proc/self/mountinfo` at claim time; a mount
//! made by another process after the claim is blocked by the exclusive open, not by us.

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::host::Host;

#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error("{path}: no such device")]
    NotFound { path: PathBuf },
    #[error("{path} is not a block device")]
    NotBlockDevice { path: PathBuf },
    #[error("{device} is a partition of {disk}: name the whole disk")]
    Partition { device: String, disk: String },
    #[error("{device} is the disk the system runs from ({mountpoint} is on it): refused")]
    SystemDisk { device: String, mountpoint: String },
    #[error("{device} is mounted ({partition} on {mountpoint}): unmount it first")]
    Mounted {
        device: String,
        partition: String,
        mountpoint: String,
    },
    #[error("{device} is used as swap ({partition})")]
    Swap { device: String, partition: String },
    #[error("{device} is held by {holders} (LVM, RAID or device-mapper)")]
    Held { device: String, holders: String },
    #[error("{device} is busy (the kernel refused an exclusive open)")]
    Busy { device: String },
    #[error("confirmation for {device} does not match: expected its serial `{expected}`")]
    WrongConfirmation { device: String, expected: String },
    #[error("cannot open {device}: {source}")]
    Open {
        device: String,
        source: std::io::Error,
    },
}

/// What identifies a disk on a certificate, a sheet or a confirmation prompt.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct DiskIdentity {
    /// Kernel name (`sda`, `nvme0n1`, `loop3`).
    pub name: String,
    pub path: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size_bytes: u64,
    pub transport: Transport,
    pub rotational: bool,
    pub removable: bool,
}

#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Nvme,
    Ata,
    Scsi,
    Usb,
    Virtio,
    Mmc,
    Loop,
    Other,
}

impl DiskIdentity {
    /// What the operator must type to confirm a destructive operation.
    pub fn confirmation_token(&self) -> &str {
        self.serial.as_deref().unwrap_or(&self.name)
    }
}

/// Whole disks with a backing device (or loop devices when `with_loops`), from sysfs.
pub fn list_disks(host: &Host, with_loops: bool) -> Vec<String> {
    host.list("/sys/block")
        .into_iter()
        .filter(|name| {
            host.exists(&format!("/sys/block/{name}/device"))
                || (with_loops
                    && name.starts_with("loop")
                    && host.exists(&format!("/sys/block/{name}/loop")))
        })
        .collect()
}

pub fn identity(host: &Host, name: &str) -> DiskIdentity {
    let sys = format!("/sys/block/{name}");
    let transport = transport(host, name);
    let model = host.attr(&format!("{sys}/device/model")).or_else(|| {
        host.attr(&format!("{sys}/loop/backing_file"))
            .map(|file| format!("loop device on {file}"))
    });
    DiskIdentity {
        name: name.to_string(),
        path: format!("/dev/{name}"),
        model,
        serial: serial(host, name),
        size_bytes: host.attr_u64(&format!("{sys}/size")).unwrap_or(0) * 512,
        transport,
        rotational: host.attr(&format!("{sys}/queue/rotational")).as_deref() == Some("1"),
        removable: host.attr(&format!("{sys}/removable")).as_deref() == Some("1")
            || transport == Transport::Usb,
    }
}

fn transport(host: &Host, name: &str) -> Transport {
    let sys = format!("/sys/block/{name}");
    if host.link_target(&sys).is_some_and(|t| t.contains("/usb")) {
        return Transport::Usb;
    }
    if name.starts_with("nvme") {
        Transport::Nvme
    } else if name.starts_with("loop") {
        Transport::Loop
    } else if name.starts_with("vd") {
        Transport::Virtio
    } else if name.starts_with("mmcblk") {
        Transport::Mmc
    } else if name.starts_with("sd") {
        match host.attr(&format!("{sys}/device/vendor")).as_deref() {
            Some("ATA") => Transport::Ata,
            _ => Transport::Scsi,
        }
    } else {
        Transport::Other
    }
}

fn serial(host: &Host, name: &str) -> Option<String> {
    let sys = format!("/sys/block/{name}");
    if let Some(s) = host
        .attr(&format!("{sys}/device/serial"))
        .or_else(|| host.attr(&format!("{sys}/serial")))
    {
        return Some(s);
    }
    if let Some(devnum) = host.attr(&format!("{sys}/dev"))
        && let Ok(db) = host.read(&format!("/run/udev/data/b{devnum}"))
        && let Some(s) = db
            .lines()
            .find_map(|l| l.strip_prefix("E:ID_SERIAL_SHORT="))
    {
        return Some(s.trim().to_string());
    }
    // SCSI VPD page 0x80: 4 header bytes, then the serial in ASCII.
    let raw = host.read_bytes(&format!("{sys}/device/vpd_pg80")).ok()?;
    let text = String::from_utf8_lossy(raw.get(4..)?)
        .trim_matches(|c: char| c.is_whitespace() || c == '\0')
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// Kernel names of a disk's partitions.
pub fn partitions(host: &Host, disk: &str) -> Vec<String> {
    host.list(&format!("/sys/block/{disk}"))
        .into_iter()
        .filter(|entry| {
            entry.starts_with(disk) && host.exists(&format!("/sys/block/{disk}/{entry}/partition"))
        })
        .collect()
}

/// `major:minor` → kernel name, for every disk and partition.
fn devnum_index(host: &Host) -> Vec<(String, String, String)> {
    let mut index = Vec::new();
    for disk in host.list("/sys/block") {
        if let Some(dev) = host.attr(&format!("/sys/block/{disk}/dev")) {
            index.push((dev, disk.clone(), disk.clone()));
        }
        for part in partitions(host, &disk) {
            if let Some(dev) = host.attr(&format!("/sys/block/{disk}/{part}/dev")) {
                index.push((dev, part, disk.clone()));
            }
        }
    }
    index
}

/// The physical disks under a device number, following dm/md slaves and loop backing files.
pub fn disks_under(host: &Host, devnum: &str) -> Vec<String> {
    let index = devnum_index(host);
    let mut out = Vec::new();
    collect_disks(host, &index, devnum, &mut out, 0);
    out
}

fn collect_disks(
    host: &Host,
    index: &[(String, String, String)],
    devnum: &str,
    out: &mut Vec<String>,
    depth: u32,
) {
    if depth > 8 {
        return;
    }
    let Some((_, _, disk)) = index.iter().find(|(d, _, _)| d == devnum) else {
        return;
    };
    let slaves = host.list(&format!("/sys/block/{disk}/slaves"));
    if !slaves.is_empty() {
        for slave in slaves {
            if let Some((dev, _, _)) = index.iter().find(|(_, n, _)| *n == slave) {
                collect_disks(host, index, dev, out, depth + 1);
            }
        }
        return;
    }
    if let Some(file) = host.attr(&format!("/sys/block/{disk}/loop/backing_file"))
        && host.is_system()
        && let Ok(meta) = std::fs::metadata(file.trim_end_matches(" (deleted)"))
    {
        let dev = meta.dev();
        let backing = format!("{}:{}", libc::major(dev), libc::minor(dev));
        let before = out.len();
        collect_disks(host, index, &backing, out, depth + 1);
        if out.len() > before {
            return;
        }
    }
    if !out.contains(disk) {
        out.push(disk.clone());
    }
}

/// A mount: device number, mount point, filesystem source.
#[derive(Debug, Clone)]
pub struct Mount {
    pub devnum: String,
    pub mountpoint: String,
    pub source: String,
}

pub fn mounts(host: &Host) -> Vec<Mount> {
    let text = host.read("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                devnum: fields.get(2)?.to_string(),
                mountpoint: unescape_mount(fields.get(4)?),
                source: fields
                    .get(sep + 2)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn unescape_mount(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

const SYSTEM_MOUNTS: [&str; 4] = ["/", "/boot", "/boot/efi", "/usr"];

/// Disks the running system lives on, with the mount point that proves it.
pub fn system_disks(host: &Host) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for mount in mounts(host) {
        if SYSTEM_MOUNTS.contains(&mount.mountpoint.as_str()) {
            for disk in disks_under(host, &mount.devnum) {
                if !out.iter().any(|(d, _)| *d == disk) {
                    out.push((disk, mount.mountpoint.clone()));
                }
            }
        }
    }
    out
}

/// Why a disk may not be written to, short of the confirmation and exclusive open.
pub fn check_not_in_use(host: &Host, disk: &str) -> Result<(), SafetyError> {
    if let Some((_, mountpoint)) = system_disks(host).into_iter().find(|(d, _)| d == disk) {
        return Err(SafetyError::SystemDisk {
            device: disk.to_string(),
            mountpoint,
        });
    }
    let mut members = vec![disk.to_string()];
    members.extend(partitions(host, disk));
    let devnums: Vec<(String, String)> = members
        .iter()
        .filter_map(|m| {
            let path = if m == disk {
                format!("/sys/block/{disk}/dev")
            } else {
                format!("/sys/block/{disk}/{m}/dev")
            };
            host.attr(&path).map(|d| (d, m.clone()))
        })
        .collect();
    for mount in mounts(host) {
        // A mount on a dm/md/loop device stacked on this disk counts too.
        let direct = devnums
            .iter()
            .find(|(d, _)| *d == mount.devnum)
            .map(|(_, m)| m.clone());
        let stacked = direct.is_none()
            && disks_under(host, &mount.devnum).iter().any(|d| d == disk)
            && !devnums.iter().any(|(d, _)| *d == mount.devnum);
        if let Some(partition) = direct.or_else(|| stacked.then(|| mount.source.clone())) {
            return Err(SafetyError::Mounted {
                device: disk.to_string(),
                partition,
                mountpoint: mount.mountpoint,
            });
        }
    }
    let swaps = host.read("/proc/swaps").unwrap_or_default();
    for line in swaps.lines().skip(1) {
        let source = line.split_whitespace().next().unwrap_or_default();
        let name = source.trim_start_matches("/dev/");
        if members.iter().any(|m| m == name) {
            return Err(SafetyError::Swap {
                device: disk.to_string(),
                partition: name.to_string(),
            });
        }
    }
    for member in &members {
        let dir = if member == disk {
            format!("/sys/block/{disk}/holders")
        } else {
            format!("/sys/block/{disk}/{member}/holders")
        };
        let holders = host.list(&dir);
        if !holders.is_empty() {
            return Err(SafetyError::Held {
                device: disk.to_string(),
                holders: holders.join(", "),
            });
        }
    }
    Ok(())
}

/// Resolves a user-given path (`/dev/sdb`, `/dev/disk/by-id/...`, `sdb`) to a whole disk.
pub fn resolve(host: &Host, given: &Path) -> Result<String, SafetyError> {
    let path = if given.is_absolute() {
        given.to_path_buf()
    } else {
        Path::new("/dev").join(given)
    };
    let real =
        std::fs::canonicalize(&path).map_err(|_| SafetyError::NotFound { path: path.clone() })?;
    let meta =
        std::fs::metadata(&real).map_err(|_| SafetyError::NotFound { path: path.clone() })?;
    if !meta.file_type().is_block_device() {
        return Err(SafetyError::NotBlockDevice { path });
    }
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if host.exists(&format!("/sys/class/block/{name}/partition")) {
        let disk = host
            .list("/sys/block")
            .into_iter()
            .find(|d| host.exists(&format!("/sys/block/{d}/{name}")))
            .unwrap_or_default();
        return Err(SafetyError::Partition { device: name, disk });
    }
    if !host.exists(&format!("/sys/block/{name}")) {
        return Err(SafetyError::NotFound { path });
    }
    Ok(name)
}

/// A disk we hold exclusively and may destroy.
#[derive(Debug)]
pub struct ClaimedDisk {
    pub identity: DiskIdentity,
    pub file: File,
}

/// The safety gate (see the module doc). `confirmation` is what the operator typed.
pub fn claim_for_destruction(
    host: &Host,
    given: &Path,
    confirmation: &str,
) -> Result<ClaimedDisk, SafetyError> {
    let name = resolve(host, given)?;
    check_not_in_use(host, &name)?;
    let identity = identity(host, &name);
    let expected = identity.confirmation_token().to_string();
    if confirmation.trim() != expected {
        return Err(SafetyError::WrongConfirmation {
            device: name,
            expected,
        });
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL | libc::O_DIRECT | libc::O_CLOEXEC)
        .open(&identity.path)
        .map_err(|source| {
            if source.raw_os_error() == Some(libc::EBUSY) {
                SafetyError::Busy {
                    device: name.clone(),
                }
            } else {
                SafetyError::Open {
                    device: name.clone(),
                    source,
                }
            }
        })?;
    Ok(ClaimedDisk { identity, file })
}
