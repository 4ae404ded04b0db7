//! Helpers for the backup tests: a test service (a busybox container with a volume, cold or
//! hot with a "database" dump), tree checksums, Debian's restic, loop-mounted file systems.

use crate::engine::{busybox_image, docker};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const IMAGE: &str = "panier-test-backup:1";

/// A service made for the tests: `<data>/apps/<app>/volumes/{files,db}`, a container named
/// `panier-test-<app>-<pid>` with `db` mounted at /data, and its `backup-plan.json`.
pub struct TestService {
    pub app: String,
    pub container: String,
    pub volumes: PathBuf,
    engine: String,
}

impl TestService {
    /// `hot`: the plan dumps /data/live.db into /data/dump.sql before the snapshot.
    pub fn create(engine: &str, data_dir: &Path, app: &str, hot: bool) -> Result<TestService> {
        busybox_image(engine, IMAGE, &[], r#"["sleep", "1000000"]"#)?;
        let volumes = data_dir.join("apps").join(app).join("volumes");
        std::fs::create_dir_all(volumes.join("files/nested/deeper"))?;
        std::fs::create_dir_all(volumes.join("db"))?;
        write_mixed(&volumes.join("files"), 1)?;
        std::fs::write(volumes.join("db/live.db"), format!("CREATE TABLE t(x);\nINSERT INTO t VALUES ('{app}');\n"))?;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let container = format!("panier-test-{app}-{}-{n}", std::process::id());
        let _ = docker(engine, &["rm", "-f", &container]);
        docker(engine, &["run", "-d", "--log-driver", "none", "--name", &container, "-v", &format!("{}:/data", volumes.join("db").display()), IMAGE])?;
        let mode = if hot {
            serde_json::json!({"hot": {"pre": [{"container": "main", "argv": ["sh", "-c", "cat /data/live.db > /data/dump.sql"]}], "post": []}})
        } else {
            serde_json::json!("cold")
        };
        let plan = serde_json::json!({"mode": mode, "containers": {"main": container}});
        std::fs::write(data_dir.join("apps").join(app).join("backup-plan.json"), plan.to_string())?;
        Ok(TestService { app: app.to_owned(), container, volumes, engine: engine.to_owned() })
    }

    pub fn running(&self) -> bool {
        docker(&self.engine, &["inspect", "-f", "{{.State.Running}}", &self.container]).is_ok_and(|s| s == "true")
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        let _ = docker(&self.engine, &["rm", "-f", &self.container]);
    }
}

/// A few files of mixed kinds: text, binary, empty, nested, a symlink.
pub fn write_mixed(dir: &Path, seed: u64) -> Result<()> {
    std::fs::write(dir.join("readme.txt"), format!("Bonjour {seed} — données de test\n").repeat(50))?;
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let bytes: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("nested/photo.bin"), &bytes)?;
    std::fs::write(dir.join("nested/deeper/empty"), b"")?;
    let _ = std::os::unix::fs::symlink("../readme.txt", dir.join("nested/link"));
    Ok(())
}

/// path relative to `root` → sha256 of the content (or of the link target for symlinks).
pub fn tree_sums(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, format!("link:{}", std::fs::read_link(&p).unwrap().display()));
            } else if meta.is_dir() {
                out.insert(rel.clone(), "dir".into());
                walk(root, &p, out);
            } else {
                out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// Runs Debian's restic on `repo` with `password`.
pub fn restic(repo: &Path, password: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("restic").arg("-r").arg(repo).args(args).env("RESTIC_PASSWORD", password).output().context("running restic")?;
    if !out.status.success() {
        bail!("restic {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A small ext4 file system loop-mounted at `dir`, unmounted when dropped.
pub struct LoopFs {
    pub dir: PathBuf,
    image: PathBuf,
}

impl LoopFs {
    pub fn new(parent: &Path, mib: u64) -> Result<LoopFs> {
        let image = parent.join("small.img");
        let dir = parent.join("small");
        std::fs::create_dir_all(&dir)?;
        let ok = |c: &mut Command| -> Result<()> {
            let o = c.output()?;
            if !o.status.success() {
                bail!("{c:?}: {}", String::from_utf8_lossy(&o.stderr));
            }
            Ok(())
        };
        ok(Command::new("truncate").arg("-s").arg(format!("{mib}M")).arg(&image))?;
        ok(Command::new("mkfs.ext4").args(["-q", "-m", "0"]).arg(&image))?;
        ok(Command::new("mount").arg("-o").arg("loop").arg(&image).arg(&dir))?;
        Ok(LoopFs { dir, image })
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_file(&self.image);
    }
}
