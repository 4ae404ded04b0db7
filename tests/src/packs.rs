//! Helpers for the image-pack tests: a service whose two versions are busybox images pushed
//! to a real local registry (`registry`), a workshop key made with `panier pack key new`, and
//! a pack of each version made with `panier pack create` through the real engine. Once the
//! packs exist, the registry is stopped and the images removed from the engine: an agent
//! then has no registry to pull from, only the packs.

use crate::engine::{busybox_image, docker};
use crate::registry::Registry;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One version of the test service, as packed.
pub struct Version {
    pub version: String,
    /// The pinned reference the manifest names (`127.0.0.1:PORT/repo:tag@sha256:…`).
    pub reference: String,
    /// The image's content id, as `docker inspect` gives it.
    pub image_id: String,
    pub catalog: PathBuf,
    pub pack: PathBuf,
}

pub struct Packs {
    pub tmp: tempfile::TempDir,
    pub engine: String,
    /// The service's id (unique to the run).
    pub id: String,
    /// What its web page says in each version: `v1-<id>`, `v2-<id>`.
    pub v1: Version,
    pub v2: Version,
    /// The workshop's secret key and its public half.
    pub key: PathBuf,
    pub public: PathBuf,
}

/// Runs the panier binary (a workshop's command: no agent).
pub fn panier(args: &[&str]) -> Output {
    Command::new(crate::panier_bin())
        .args(args)
        .output()
        .expect("panier runs")
}

fn ok(out: Output, what: &str) -> Result<String> {
    if !out.status.success() {
        bail!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write_service(dir: &Path, id: &str, version: &str, reference: &str) -> Result<()> {
    let folder = dir.join(id);
    std::fs::create_dir_all(&folder)?;
    let manifest = format!(
        r#"id = "{id}"
version = "{version}"
category = "websites"
upstream = "https://busybox.net"
license = "GPL-2.0-only"
name = {{ fr = "Site du paquet", en = "Pack site" }}
description = {{ fr = "Une page servie par busybox.", en = "A page served by busybox." }}
first_run = "nothing"
requirements = {{ memory_mb = 16, disk_mb = 10 }}

[[volumes]]
name = "www"

[[containers]]
name = "web"
image = "{reference}"
command = ["sh", "-c", "cat /etc/panier-version > /var/www/index.html; exec httpd -f -p 8080 -h /var/www"]
memory_mb = 32
stop_grace_s = 1
ports = [8080]
mounts = [{{ volume = "www", path = "/var/www" }}]

[[probe]]
http = "/"
contains = "hello"

[web]
container = "web"
port = 8080

[backup]
volumes = ["www"]
mode = "cold"

[[provenance]]
image = "{reference}"
repository = "https://salsa.debian.org/installer-team/busybox"
tag = "Debian bookworm's busybox-static"
files = ["tests/src/packs.rs"]
read_on = "2026-12-02"
binaries = ["sh", "cat", "httpd"]
"#
    );
    std::fs::write(folder.join("manifest.toml"), manifest)?;
    std::fs::write(
        folder.join("icon.svg"),
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>"#,
    )?;
    std::fs::write(folder.join("description.fr.md"), "Une page.\n")?;
    std::fs::write(folder.join("description.en.md"), "A page.\n")?;
    Ok(())
}

impl Packs {
    /// Pushes both versions to a registry, makes a key and a pack of each, then stops the
    /// registry and removes the images from the engine.
    pub fn make(engine: &str) -> Result<Packs> {
        let tmp = tempfile::Builder::new().prefix("panier-packs-").tempdir()?;
        let suffix = crate::services::suffix();
        let id = format!("pk{suffix}");
        let key = tmp.path().join("atelier.key");
        ok(
            panier(&["pack", "key", "new", key.to_str().unwrap()]),
            "panier pack key new",
        )?;
        let public = PathBuf::from(format!("{}.pub", key.display()));
        let registry = Registry::start()?;
        let repo = format!("panier-test/pack{suffix}");
        let mut versions = Vec::new();
        for n in ["1", "2"] {
            let local = format!("panier-test/pack-local{suffix}:v{n}");
            let page = format!("v{n}-{id}\n");
            busybox_image(
                engine,
                &local,
                &[("/etc/panier-version", page.as_str())],
                r#"["sh"]"#,
            )?;
            let pushed = registry.push_from_engine(engine, &local, &repo, n)?;
            docker(engine, &["rmi", &local])?;
            let catalog = tmp.path().join(format!("catalog{n}"));
            let version = format!("{n}.0-1");
            write_service(&catalog, &id, &version, &pushed.pinned())?;
            let pack = tmp.path().join(format!("pack{n}"));
            ok(
                panier(&[
                    "pack",
                    "create",
                    &id,
                    "--out",
                    pack.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                    "--engine",
                    engine,
                    "--catalog",
                    catalog.to_str().unwrap(),
                ]),
                "panier pack create",
            )?;
            let image_id = docker(
                engine,
                &["image", "inspect", "-f", "{{.Id}}", &pushed.pinned()],
            )
            .context("the pulled image")?;
            versions.push(Version {
                version,
                reference: pushed.pinned(),
                image_id,
                catalog,
                pack,
            });
        }
        drop(registry);
        for v in &versions {
            docker(engine, &["rmi", "-f", &v.image_id])?;
        }
        let v2 = versions.pop().unwrap();
        let v1 = versions.pop().unwrap();
        Ok(Packs {
            tmp,
            engine: engine.to_owned(),
            id,
            v1,
            v2,
            key,
            public,
        })
    }

    /// A copy of a pack folder, to damage.
    pub fn copy_of(&self, pack: &Path, name: &str) -> Result<PathBuf> {
        let to = self.tmp.path().join(name);
        ok(
            Command::new("cp").arg("-r").arg(pack).arg(&to).output()?,
            "cp -r",
        )?;
        Ok(to)
    }

    /// The image archive of a pack (its only one).
    pub fn archive(pack: &Path) -> PathBuf {
        std::fs::read_dir(pack.join("images"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "tar"))
            .expect("an image archive")
    }

    /// Whether the engine holds the image `id`.
    pub fn engine_has(&self, id: &str) -> bool {
        docker(&self.engine, &["image", "inspect", id]).is_ok()
    }
}

impl Drop for Packs {
    fn drop(&mut self) {
        for v in [&self.v1, &self.v2] {
            let _ = docker(&self.engine, &["rmi", "-f", &v.image_id]);
        }
    }
}
