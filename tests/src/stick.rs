//! A USB stick for the tests: a file with an ext4 file system made from a folder, attached to
//! a loop device that the agent is told to take for a USB stick (`PANIER_USB_LOOP`);
//! detached when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Stick {
    pub device: String,
    image: PathBuf,
}

impl Stick {
    /// A 64 MiB stick labelled `label` holding a copy of `content`, its image at `image`.
    pub fn holding(content: &Path, image: &Path, label: &str) -> Stick {
        let ok = |c: &mut Command| crate::succeeded(&c.output().unwrap());
        ok(Command::new("truncate").args(["-s", "64M"]).arg(image));
        ok(Command::new("mkfs.ext4")
            .args(["-q", "-L", label, "-d"])
            .arg(content)
            .arg(image));
        let device = ok(Command::new("losetup").args(["-f", "--show"]).arg(image))
            .trim()
            .to_owned();
        Stick {
            device,
            image: image.to_owned(),
        }
    }
}

impl Drop for Stick {
    fn drop(&mut self) {
        // Whatever still has it mounted (a failed run): a loop device does not go while mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.device).status();
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
        let _ = std::fs::remove_file(&self.image);
    }
}
