//! An OS update channel for the tests: a release key made with Debian's minisign, and a
//! channel folder (a bundle, `index.json` offering it, its signature), as the project's
//! release tooling makes them.

use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const NOTES_FR: &str = "Correctifs de sécurité du noyau et de Docker.";
pub const VERSION: &str = "2027.1.0";

fn run(cmd: &mut Command) {
    crate::succeeded(&cmd.output().unwrap());
}

/// A throwaway release key pair in `dir`.
pub struct ReleaseKey {
    pub public: PathBuf,
    pub secret: PathBuf,
}

impl ReleaseKey {
    pub fn make(dir: &Path) -> ReleaseKey {
        let (public, secret) = (dir.join("release.pub"), dir.join("release.key"));
        run(Command::new("minisign")
            .args(["-G", "-W", "-f", "-p"])
            .arg(&public)
            .arg("-s")
            .arg(&secret));
        ReleaseKey { public, secret }
    }
}

fn rfc3339(unix: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Writes into `dir` a bundle and an index offering it as [`VERSION`], signed with `key`.
pub fn write_channel(dir: &Path, key: &ReleaseKey, bundle: &[u8], serial: u64) {
    let name = format!("panier-{VERSION}.raucb");
    std::fs::write(dir.join(&name), bundle).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let index = serde_json::json!({
        "format": 1,
        "channel": "stable",
        "compatible": "panier-x86_64",
        "serial": serial,
        "published": rfc3339(now - 60),
        "expires": rfc3339(now + 7 * 86400),
        "releases": [{
            "version": VERSION,
            "bundle": name,
            "size": bundle.len(),
            "sha256": hex::encode(sha2::Sha256::digest(bundle)),
            "notes": {"fr": NOTES_FR, "en": "Kernel and Docker security fixes."}
        }]
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
    run(Command::new("minisign")
        .args(["-S", "-s"])
        .arg(&key.secret)
        .arg("-m")
        .arg(dir.join("index.json")));
}

/// A bundle's stand-in: `len` bytes of a recognisable pattern.
pub fn bundle(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The agent's `[update]` configuration for a channel at `url` with `ca`, `key`, and a
/// running system of version 2026.12.0 (its version file written in `dir`).
pub fn agent_config(dir: &Path, url: Option<&str>, ca: Option<&Path>, key: &ReleaseKey) -> String {
    std::fs::write(dir.join("os-version"), "2026.12.0\n").unwrap();
    let mut c = String::from("[update]\n");
    if let Some(u) = url {
        c.push_str(&format!("channel = \"{u}\"\n"));
    }
    if let Some(ca) = ca {
        c.push_str(&format!("ca = \"{}\"\n", ca.display()));
    }
    c.push_str(&format!(
        "key = \"{}\"\nversion_file = \"{}\"\n",
        key.public.display(),
        dir.join("os-version").display()
    ));
    c
}
