//! Real loop devices for the wipe and flash tests (we run as root in CI). Every resource is
//! released by `Drop`, also when a test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A file-backed loop device, detached on drop.
pub struct Loop {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub dev: PathBuf,
}

impl Loop {
    /// `size` bytes filled with a recognisable secret, attached with partition scanning.
    pub fn with_secret(size: usize, secret: &[u8]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("disk.img");
        let data: Vec<u8> = secret.iter().copied().cycle().take(size).collect();
        std::fs::write(&file, data).expect("write backing file");
        let dev = PathBuf::from(run(
            "losetup",
            &["--find", "--show", "--partscan", file.to_str().unwrap()],
        ));
        Loop { dir, file, dev }
    }

    /// Attaches an existing backing file (kept in `dir`).
    pub fn attach(dir: tempfile::TempDir, file: PathBuf) -> Self {
        let dev = PathBuf::from(run(
            "losetup",
            &["--find", "--show", "--partscan", file.to_str().unwrap()],
        ));
        Loop { dir, file, dev }
    }

    pub fn name(&self) -> String {
        self.dev.file_name().unwrap().to_string_lossy().into_owned()
    }

    pub fn backing_contains(&self, needle: &[u8]) -> bool {
        let data = std::fs::read(&self.file).expect("read backing file");
        data.windows(needle.len()).any(|w| w == needle)
    }

    pub fn backing_all_zero(&self) -> bool {
        std::fs::read(&self.file)
            .expect("read backing file")
            .iter()
            .all(|&b| b == 0)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// A mounted filesystem, unmounted on drop.
pub struct MountGuard {
    pub point: tempfile::TempDir,
}

impl MountGuard {
    pub fn mount(dev: &Path) -> Self {
        run("mkfs.ext4", &["-q", "-F", dev.to_str().unwrap()]);
        let point = tempfile::tempdir().expect("mount point");
        run(
            "mount",
            &[dev.to_str().unwrap(), point.path().to_str().unwrap()],
        );
        MountGuard { point }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.point.path()).status();
    }
}

/// A partition's device node. Without udev (containers, CI) the kernel still registers the
/// partition in sysfs but nobody creates `/dev/loopNp1`: we make the node and remove it on drop.
pub struct PartitionNode {
    pub path: PathBuf,
    created: bool,
}

impl PartitionNode {
    pub fn wait(name: &str) -> Self {
        let path = PathBuf::from(format!("/dev/{name}"));
        let sys = PathBuf::from(format!("/sys/class/block/{name}/dev"));
        for _ in 0..50 {
            if path.exists() {
                return PartitionNode {
                    path,
                    created: false,
                };
            }
            if let Ok(devnum) = std::fs::read_to_string(&sys) {
                let (major, minor) = devnum.trim().split_once(':').expect("major:minor");
                run("mknod", &[path.to_str().unwrap(), "b", major, minor]);
                return PartitionNode {
                    path,
                    created: true,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{name} did not appear");
    }
}

impl Drop for PartitionNode {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
