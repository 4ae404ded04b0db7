//! Services pre-installed by the workshop: after the install wrote and checked the new box's
//! disk, its data partition is grown to the end of the disk and made here (ext4, label
//! `panier-data`, as the box's first boot would make it) already holding
//! `<data>/preload/`: the stick's pack (its folder, hard-linked when it is on the same file
//! system, copied otherwise), the public key that signed it, and `services.json`. The new
//! box's first boot then finds an ext4 data partition (it neither grows nor formats it again)
//! and its agent installs the services from the pack (`apps::preload`), before any setup.
//!
//! Invariant: the pack was verified on the stick before this step, and is verified again by
//! the new box before anything is loaded (only keys it carries, or the release key, count).
//! A failure here leaves the box installed without services; the job says so.

use std::path::Path;
use std::process::{Command, Stdio};

/// What to put in `<data>/preload/`.
pub struct Content<'a> {
    /// The pack's folder on the stick.
    pub pack_dir: &'a Path,
    /// (file name, `.pub` content) of the keys the new box trusts for it.
    pub keys: Vec<(String, String)>,
    pub services: Vec<String>,
}

fn run(cmd: &mut Command, what: &str, stdin: Option<&str>) -> Result<(), String> {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(text.as_bytes())
            .map_err(|e| format!("{what}: {e}"))?;
    } else {
        drop(child.stdin.take());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `/dev/sda` → `/dev/sda5`, `/dev/nvme0n1` → `/dev/nvme0n1p5`.
pub fn data_partition(disk: &Path) -> std::path::PathBuf {
    let d = disk.display().to_string();
    if d.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{d}p5").into()
    } else {
        format!("{d}5").into()
    }
}

/// Grows partition 5 of `disk` to its end and makes its file system holding `content` under
/// `<data_rel>/preload/` (`data_rel`: the agent's data folder below `/data`, `panier`).
/// `scratch`: a folder on the stick for the staging tree (removed afterwards).
pub fn write(disk: &Path, data_rel: &str, content: &Content, scratch: &Path) -> Result<(), String> {
    let staging = scratch.join(format!("preload-staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| {
        let preload = staging.join(data_rel).join("preload");
        std::fs::create_dir_all(preload.join("keys")).map_err(|e| e.to_string())?;
        // Hard links cost nothing on the stick's own data partition; another file system
        // needs a copy.
        let linked = run(
            Command::new("cp")
                .arg("-al")
                .arg(content.pack_dir)
                .arg(preload.join("pack")),
            "cp -al",
            None,
        );
        if linked.is_err() {
            let _ = std::fs::remove_dir_all(preload.join("pack"));
            run(
                Command::new("cp")
                    .arg("-a")
                    .arg(content.pack_dir)
                    .arg(preload.join("pack")),
                "copying the pack",
                None,
            )?;
        }
        for (name, text) in &content.keys {
            std::fs::write(preload.join("keys").join(name), text).map_err(|e| e.to_string())?;
        }
        let list = serde_json::to_vec(&content.services).expect("JSON");
        std::fs::write(preload.join("services.json"), list).map_err(|e| e.to_string())?;
        run(
            Command::new("sfdisk")
                .args(["--quiet", "--no-reread", "--no-tell-kernel", "-N", "5"])
                .arg(disk),
            "growing the data partition (sfdisk)",
            Some(", +\n"),
        )?;
        run(
            Command::new("partx").args(["-u", "--nr", "5"]).arg(disk),
            "partx",
            None,
        )?;
        let part = data_partition(disk);
        let _ = Command::new("udevadm").arg("settle").status();
        run(
            Command::new("mkfs.ext4")
                .args(["-F", "-q", "-L", "panier-data", "-d"])
                .arg(&staging)
                .arg(&part),
            "making the data partition (mkfs.ext4)",
            None,
        )
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(cmd: &str) -> String {
        let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A real disk (a loop device with a Panier-like GPT), real sfdisk, partx and mkfs.ext4.
    #[test]
    fn the_data_partition_is_grown_and_made_holding_the_preload() {
        if !nix::unistd::Uid::effective().is_root()
            || Command::new("losetup").arg("-h").output().is_err()
        {
            eprintln!("skipped: needs root and loop devices");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("disk.img");
        sh(&format!("truncate -s 200M {}", image.display()));
        sh(&format!(
            "printf 'label: gpt\\nsize=1MiB\\nsize=4MiB\\nsize=8MiB\\nsize=8MiB\\nsize=16MiB\\n' | sfdisk --quiet {}",
            image.display()
        ));
        let disk = sh(&format!("losetup -f --show -P {}", image.display()));
        let pack = tmp.path().join("pack");
        std::fs::create_dir_all(pack.join("images")).unwrap();
        std::fs::write(pack.join("pack.json"), "{}").unwrap();
        std::fs::write(pack.join("images/a.tar"), vec![7u8; 3 << 20]).unwrap();
        let content = Content {
            pack_dir: &pack,
            keys: vec![("atelier.pub".into(), "untrusted comment: x\nRWQ\n".into())],
            services: vec!["pad".into()],
        };
        let result = write(Path::new(&disk), "panier", &content, tmp.path());
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let checked = result.map(|()| {
            let part = data_partition(Path::new(&disk));
            sh(&format!("mount -o ro {} {}", part.display(), mnt.display()));
            let services = std::fs::read_to_string(mnt.join("panier/preload/services.json"));
            let archive =
                std::fs::metadata(mnt.join("panier/preload/pack/images/a.tar")).map(|m| m.len());
            let size: u64 = sh(&format!("blockdev --getsize64 {}", part.display()))
                .parse()
                .unwrap();
            let _ = Command::new("umount").arg(&mnt).status();
            (services.unwrap(), archive.unwrap(), size)
        });
        let _ = Command::new("losetup").arg("-d").arg(&disk).status();
        let (services, archive, size) = checked.unwrap();
        assert_eq!(services, r#"["pad"]"#);
        assert_eq!(archive, 3 << 20);
        assert!(size > 150 << 20, "the data partition was not grown: {size}");
        assert!(
            !tmp.path()
                .join(format!("preload-staging-{}", std::process::id()))
                .exists()
        );
    }
}
