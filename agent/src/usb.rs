//! USB disks plugged into the box, shared by the domains that use them: backup targets
//! (`backup::target`), image packs (`pack::usb`), and OS update bundles on a stick.
//!
//! Owns: finding USB disks and their file systems through `lsblk` (which reads /sys and
//! udev's database), and mounting a file system read-only for reading what a stick carries.
//! A loop device counts as a USB disk when `PANIER_USB_LOOP` names it (`/dev/loop7`, several
//! separated by commas): the system tests present a file as a stick that way, and name only
//! their own device so that other loop devices on the machine are left alone; a box never
//! sets it.
//! Invariants: a stick is only ever mounted read-only here, `nosuid,nodev,noexec`, under a
//! folder of the caller's, by its file-system UUID; nothing on it is executed.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A disk offered as a USB target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UsbDisk {
    /// `/dev/sdb`.
    pub device: String,
    pub size_bytes: u64,
    pub model: String,
    /// The label and UUID of its (first) file system, if any.
    pub label: Option<String>,
    pub uuid: Option<String>,
    pub fstype: Option<String>,
}

/// One file system on a USB disk (the whole disk or one of its partitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UsbFileSystem {
    /// `/dev/sdb1`.
    pub device: String,
    /// The disk it is on (`/dev/sdb`) and its model.
    pub disk: String,
    pub model: String,
    pub uuid: String,
    pub label: Option<String>,
    pub fstype: String,
    pub size_bytes: u64,
}

/// The loop devices presented as USB disks (`PANIER_USB_LOOP`).
fn loops() -> Vec<String> {
    std::env::var("PANIER_USB_LOOP")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .collect()
}

fn is_usb_disk(d: &serde_json::Value, loops: &[String]) -> bool {
    (d["type"] == "disk" && d["tran"] == "usb") || (d["type"] == "loop" && loops.contains(&path(d)))
}

fn text(d: &serde_json::Value, k: &str) -> Option<String> {
    d[k].as_str().map(str::to_owned).filter(|x| !x.is_empty())
}

fn size(d: &serde_json::Value) -> u64 {
    d["size"]
        .as_u64()
        .or_else(|| d["size"].as_str().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn path(d: &serde_json::Value) -> String {
    text(d, "path").unwrap_or_else(|| format!("/dev/{}", d["name"].as_str().unwrap_or("")))
}

/// USB disks from `lsblk --json -b -o NAME,PATH,SIZE,TRAN,TYPE,MODEL,LABEL,UUID,FSTYPE`
/// output. Pure, for tests.
pub fn usb_disks_from_lsblk(json: &str) -> Vec<UsbDisk> {
    disks_from_lsblk(json, &loops())
}

fn disks_from_lsblk(json: &str, loops: &[String]) -> Vec<UsbDisk> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for d in v["blockdevices"].as_array().into_iter().flatten() {
        if !is_usb_disk(d, loops) {
            continue;
        }
        let part = d["children"]
            .as_array()
            .and_then(|c| c.first())
            .unwrap_or(d);
        out.push(UsbDisk {
            device: path(d),
            size_bytes: size(d),
            model: text(d, "model").unwrap_or_default(),
            label: text(part, "label"),
            uuid: text(part, "uuid"),
            fstype: text(part, "fstype"),
        });
    }
    out
}

/// Every file system with a UUID on a USB disk, from the same `lsblk` output. Pure.
pub fn file_systems_from_lsblk(json: &str, loops: &[String]) -> Vec<UsbFileSystem> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut out = Vec::new();
    for d in v["blockdevices"].as_array().into_iter().flatten() {
        if !is_usb_disk(d, loops) {
            continue;
        }
        let children = d["children"].as_array().cloned().unwrap_or_default();
        let parts: Vec<&serde_json::Value> = if children.is_empty() {
            vec![d]
        } else {
            children.iter().collect()
        };
        for p in parts {
            let (Some(uuid), Some(fstype)) = (text(p, "uuid"), text(p, "fstype")) else {
                continue;
            };
            out.push(UsbFileSystem {
                device: path(p),
                disk: path(d),
                model: text(d, "model").unwrap_or_default(),
                uuid,
                label: text(p, "label"),
                fstype,
                size_bytes: size(p),
            });
        }
    }
    out
}

fn lsblk() -> Option<String> {
    let out = Command::new("lsblk")
        .args([
            "--json",
            "-b",
            "-o",
            "NAME,PATH,SIZE,TRAN,TYPE,MODEL,LABEL,UUID,FSTYPE",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => {
            log::warn!(
                "cannot list disks: lsblk: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            log::warn!("cannot list disks: lsblk: {e}");
            None
        }
    }
}

/// The USB disks plugged in now.
pub fn usb_disks() -> Vec<UsbDisk> {
    lsblk().map_or_else(Vec::new, |j| usb_disks_from_lsblk(&j))
}

/// The file systems on the USB disks plugged in now. Where udev has not (yet) recorded a
/// file system, `blkid -p` reads it from the device itself.
pub fn file_systems() -> Vec<UsbFileSystem> {
    let Some(json) = lsblk() else {
        return Vec::new();
    };
    let loops = loops();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    for d in v["blockdevices"].as_array_mut().into_iter().flatten() {
        if !is_usb_disk(d, &loops) {
            continue;
        }
        if d["children"].as_array().is_some_and(|c| !c.is_empty()) {
            for p in d["children"].as_array_mut().into_iter().flatten() {
                probe_if_unknown(p);
            }
        } else {
            probe_if_unknown(d);
        }
    }
    file_systems_from_lsblk(&v.to_string(), &loops)
}

/// Fills `uuid`, `fstype` and `label` from `blkid -p` when lsblk had none.
fn probe_if_unknown(node: &mut serde_json::Value) {
    if text(node, "uuid").is_some() {
        return;
    }
    let Ok(out) = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(path(node))
        .output()
    else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match line.split_once('=') {
            Some(("UUID", v)) => node["uuid"] = v.into(),
            Some(("TYPE", v)) => node["fstype"] = v.into(),
            Some(("LABEL", v)) => node["label"] = v.into(),
            _ => {}
        }
    }
}

/// Where a block device is mounted now, if anywhere (first mount in /proc/self/mounts).
pub fn mount_point_of(device: &str) -> Option<PathBuf> {
    let canonical = std::fs::canonicalize(device).ok();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut f = l.split(' ');
            let dev = f.next()?;
            let at = f.next()?;
            let same = dev == device
                || canonical
                    .as_deref()
                    .is_some_and(|c| std::fs::canonicalize(dev).ok().as_deref() == Some(c));
            same.then(|| PathBuf::from(at.replace("\\040", " ")))
        })
}

/// Mounts `fs` read-only at `<root>/<uuid>` unless it is mounted somewhere already; returns
/// where it can be read. `Ok((path, true))` when this call mounted it.
pub fn mount_read_only(fs: &UsbFileSystem, root: &Path) -> Result<(PathBuf, bool), String> {
    if let Some(at) = mount_point_of(&fs.device) {
        return Ok((at, false));
    }
    if !fs.uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(format!("'{}' is not a file-system UUID", fs.uuid));
    }
    let at = root.join(&fs.uuid);
    std::fs::create_dir_all(&at).map_err(|e| format!("{}: {e}", at.display()))?;
    let out = Command::new("mount")
        .args(["-o", "ro,nosuid,nodev,noexec", &fs.device])
        .arg(&at)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir(&at);
        return Err(format!(
            "mount {}: {}",
            fs.device,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((at, true))
}

/// Unmounts what [`mount_read_only`] mounted under `root` for file systems that are not in
/// `plugged` any more (sticks pulled out since).
pub fn unmount_unplugged(root: &Path, plugged: &[UsbFileSystem]) {
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let uuid = e.file_name().to_string_lossy().into_owned();
            if !plugged.iter().any(|f| f.uuid == uuid) {
                unmount(&e.path());
            }
        }
    }
}

/// Unmounts what [`mount_read_only`] mounted (lazily: a stick pulled out is gone already)
/// and removes its mount point (only ever an empty folder: `remove_dir` refuses others).
pub fn unmount(at: &Path) {
    let mounted = std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(&*at.to_string_lossy()));
    if mounted {
        match Command::new("umount").arg("-l").arg(at).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => log::warn!(
                "cannot unmount {}: {}",
                at.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => log::warn!("cannot unmount {}: {e}", at.display()),
        }
    }
    let _ = std::fs::remove_dir(at);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LSBLK: &str = r#"{"blockdevices":[
      {"name":"sda","path":"/dev/sda","size":256060514304,"tran":"sata","type":"disk","model":"SSD","label":null,"uuid":null,"fstype":null},
      {"name":"sdb","path":"/dev/sdb","size":1000204886016,"tran":"usb","type":"disk","model":"Elements","label":null,"uuid":null,"fstype":null,
       "children":[{"name":"sdb1","path":"/dev/sdb1","size":1000202788864,"tran":null,"type":"part","model":null,"label":"SAUVEGARDE","uuid":"1c2e-33ab","fstype":"exfat"},
                   {"name":"sdb2","path":"/dev/sdb2","size":1000,"tran":null,"type":"part","model":null,"label":null,"uuid":null,"fstype":null}]},
      {"name":"loop3","path":"/dev/loop3","size":67108864,"tran":null,"type":"loop","model":null,"label":"PAQUET","uuid":"0f3c2b1a-aaaa-bbbb-cccc-123456789abc","fstype":"ext4"}
    ]}"#;

    #[test]
    fn usb_disks_only() {
        let disks = disks_from_lsblk(LSBLK, &[]);
        assert_eq!(disks.len(), 1);
        assert_eq!(disks[0].device, "/dev/sdb");
        assert_eq!(disks[0].label.as_deref(), Some("SAUVEGARDE"));
        assert_eq!(disks[0].size_bytes, 1000204886016);
    }

    #[test]
    fn file_systems_of_usb_disks_and_of_the_loop_devices_named() {
        let fs = file_systems_from_lsblk(LSBLK, &[]);
        assert_eq!(fs.len(), 1, "{fs:?}");
        assert_eq!(
            (fs[0].device.as_str(), fs[0].disk.as_str()),
            ("/dev/sdb1", "/dev/sdb")
        );
        let with_loop = file_systems_from_lsblk(LSBLK, &["/dev/loop3".to_owned()]);
        assert_eq!(
            file_systems_from_lsblk(LSBLK, &["/dev/loop4".to_owned()]).len(),
            1
        );
        assert_eq!(with_loop.len(), 2);
        assert_eq!(with_loop[1].label.as_deref(), Some("PAQUET"));
        assert_eq!(with_loop[1].device, "/dev/loop3");
    }
}
