//! Helpers for the backup tests: an agent with the test catalog's services installed for
//! real (`notes`: two containers, a volume and a hot "database" dump; `site`: cold), tree
//! checksums, Debian's restic, loop-mounted file systems.

use crate::engine::{docker, engine_url};
use crate::services::{suffix, test_catalog, test_image};
use crate::{Agent, AgentOptions};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An agent on the test engine with a copy of the test catalog (`tests/catalog/`, ids
/// suffixed so that tests sharing the engine never clash), set up with the admin `camille`.
/// Dropping it removes the engine objects of its services, whoever created them.
pub struct ServiceBox {
    pub agent: Agent,
    pub engine: String,
    pub catalog: tempfile::TempDir,
    pub suffix: String,
    ids: Vec<String>,
}

impl ServiceBox {
    pub fn start() -> ServiceBox {
        ServiceBox::start_on(engine_url())
    }

    /// The same on another engine (podman's compatible service, say).
    pub fn start_on(engine: String) -> ServiceBox {
        ServiceBox::start_with(engine, Vec::new())
    }

    /// The same with extra environment variables for the agent.
    pub fn start_with(engine: String, env: Vec<(String, String)>) -> ServiceBox {
        test_image(&engine);
        let catalog = tempfile::tempdir().unwrap();
        let suffix = suffix();
        let ids = test_catalog(catalog.path(), &suffix);
        let agent = Agent::start_with(AgentOptions {
            engine: Some(engine.clone()),
            extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
            env,
            ..Default::default()
        });
        agent.setup("biblio", "camille", "un mot de passe solide");
        ServiceBox {
            agent,
            engine,
            catalog,
            suffix,
            ids,
        }
    }

    pub fn id(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }

    /// Installs the test catalog's `base` service with `settings` (`key=value`) and waits
    /// for the install job to succeed.
    pub fn install(&self, base: &str, settings: &[&str]) -> TestService {
        let app = self.id(base);
        let mut args = vec!["app", "install", app.as_str(), "--follow"];
        for s in settings {
            args.extend(["--set", s]);
        }
        let out = self.agent.cli(&args);
        assert!(
            out.status.success(),
            "installing {app}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest =
            std::fs::read_to_string(self.catalog.path().join(&app).join("manifest.toml")).unwrap();
        let containers = manifest
            .lines()
            .skip_while(|l| !l.starts_with("[[containers]]"))
            .filter_map(|l| {
                l.strip_prefix("name = \"")
                    .and_then(|r| r.strip_suffix('"'))
            })
            .map(|c| format!("panier-{app}-{c}"))
            .collect();
        TestService {
            volumes: self.agent.data_dir.join("apps").join(&app).join("volumes"),
            app,
            containers,
            engine: self.engine.clone(),
        }
    }

    /// Removes the engine objects of this box's services (as an old box's disappear).
    pub fn remove_objects(&self) {
        crate::services::remove_objects(&self.engine, &self.ids);
    }
}

impl Drop for ServiceBox {
    fn drop(&mut self) {
        self.agent.kill9();
        self.remove_objects();
    }
}

/// A service installed from the test catalog.
pub struct TestService {
    pub app: String,
    /// `<data>/apps/<app>/volumes`.
    pub volumes: PathBuf,
    /// Engine names of its containers.
    pub containers: Vec<String>,
    engine: String,
}

impl TestService {
    fn states(&self) -> Vec<bool> {
        self.containers
            .iter()
            .map(|c| {
                docker(&self.engine, &["inspect", "-f", "{{.State.Running}}", c])
                    .is_ok_and(|s| s == "true")
            })
            .collect()
    }

    /// Every container runs.
    pub fn running(&self) -> bool {
        self.states().iter().all(|r| *r)
    }

    /// No container runs.
    pub fn stopped(&self) -> bool {
        self.states().iter().all(|r| !*r)
    }

    /// The hostname of one of its containers (what a command run inside it sees).
    pub fn hostname(&self, container: &str) -> String {
        docker(
            &self.engine,
            &[
                "inspect",
                "-f",
                "{{.Config.Hostname}}",
                &format!("panier-{}-{container}", self.app),
            ],
        )
        .unwrap()
    }
}

/// A few files of mixed kinds: text, binary, empty, nested, a symlink.
pub fn write_mixed(dir: &Path, seed: u64) -> Result<()> {
    std::fs::write(
        dir.join("readme.txt"),
        format!("Bonjour {seed} — données de test\n").repeat(50),
    )?;
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
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
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("link:{}", std::fs::read_link(&p).unwrap().display()),
                );
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
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", password)
        .output()
        .context("running restic")?;
    if !out.status.success() {
        bail!(
            "restic {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
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
        ok(Command::new("truncate")
            .arg("-s")
            .arg(format!("{mib}M"))
            .arg(&image))?;
        ok(Command::new("mkfs.ext4")
            .args(["-q", "-m", "0"])
            .arg(&image))?;
        ok(Command::new("mount")
            .arg("-o")
            .arg("loop")
            .arg(&image)
            .arg(&dir))?;
        Ok(LoopFs { dir, image })
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_file(&self.image);
    }
}
