//! The container engine's own configuration on the box, for what the admin sets (the
//! registry mirror): Docker Engine reads `/etc/docker/daemon.json`, which the image links to
//! `/data/etc/docker/daemon.json` (the root is read-only). The agent makes that file from the
//! image's base (`/usr/share/panier/docker-daemon.json`) plus the store's settings — a
//! generated file, remade at every start and after every change — and asks the engine to
//! re-read it with `systemctl reload docker` (SIGHUP: Docker Engine reloads
//! `registry-mirrors` without restarting, so running services are not touched). Until the
//! agent first writes it, `docker.service`'s drop-in copies the base there.
//!
//! Limits: only Docker Engine's `registry-mirrors` (a mirror of Docker Hub, which is where
//! Docker Engine uses mirrors); podman's `registries.conf` is not written.

use std::path::{Path, PathBuf};

pub const DEFAULT_BASE: &str = "/usr/share/panier/docker-daemon.json";

/// Where the agent writes the engine's configuration, and what from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfigFile {
    pub path: PathBuf,
    pub base: PathBuf,
}

/// A registry mirror's address: `http(s)://host[:port][/path]`, nothing else.
pub fn parse_mirror(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| url.to_owned())?;
    let host = rest.split('/').next().unwrap_or("");
    let ok = !host.is_empty()
        && url.len() <= 200
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:/_[]".contains(&b));
    if ok {
        Ok(url.to_owned())
    } else {
        Err(url.to_owned())
    }
}

/// The engine's configuration: `base` with `registry-mirrors` set to `mirror` (or removed).
pub fn with_mirror(base: &serde_json::Value, mirror: Option<&str>) -> serde_json::Value {
    let mut out = match base {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    match mirror {
        Some(m) => {
            out.insert("registry-mirrors".into(), serde_json::json!([m]));
        }
        None => {
            out.remove("registry-mirrors");
        }
    }
    serde_json::Value::Object(out)
}

impl EngineConfigFile {
    /// Writes the configuration for `mirror` when it differs from the file's, and has the
    /// engine reload it. `Ok(true)` when something changed.
    pub fn apply(&self, mirror: Option<&str>) -> Result<bool, String> {
        let base: serde_json::Value = std::fs::read(&self.base)
            .map_err(|e| format!("{}: {e}", self.base.display()))
            .and_then(|b| {
                serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", self.base.display()))
            })?;
        let wanted = with_mirror(&base, mirror);
        let current: Option<serde_json::Value> = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if current.as_ref() == Some(&wanted) {
            return Ok(false);
        }
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let text = serde_json::to_vec_pretty(&wanted).expect("JSON");
        crate::fsutil::write_atomic(&self.path, &text)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        reload(&self.path)?;
        Ok(true)
    }
}

/// `systemctl reload docker` when systemd runs the engine; elsewhere (tests, development)
/// the file is written and the engine is left as it is.
fn reload(path: &Path) -> Result<(), String> {
    if !Path::new("/run/systemd/system").exists() {
        log::info!(
            "wrote {}; no systemd here to reload the engine",
            path.display()
        );
        return Ok(());
    }
    let out = std::process::Command::new("systemctl")
        .args(["reload", "docker.service"])
        .output()
        .map_err(|e| format!("systemctl reload docker: {e}"))?;
    if out.status.success() {
        log::info!("the container engine reloaded {}", path.display());
        Ok(())
    } else {
        Err(format!(
            "systemctl reload docker: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_goes_into_the_base_and_out_again() {
        let base = serde_json::json!({"data-root": "/data/docker", "log-driver": "journald"});
        let with = with_mirror(&base, Some("https://miroir.chatons.example"));
        assert_eq!(
            with["registry-mirrors"][0],
            "https://miroir.chatons.example"
        );
        assert_eq!(with["data-root"], "/data/docker");
        assert_eq!(with_mirror(&with, None), base);
    }

    #[test]
    fn mirrors_are_plain_http_addresses() {
        assert_eq!(
            parse_mirror("https://mirror.example:5000/").unwrap(),
            "https://mirror.example:5000"
        );
        assert!(parse_mirror("ftp://x").is_err());
        assert!(parse_mirror("https://").is_err());
        assert!(parse_mirror("https://a b").is_err());
        assert!(parse_mirror("https://x\"; rm").is_err());
    }

    #[test]
    fn applying_writes_only_when_something_changed() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.json");
        std::fs::write(&base, r#"{"data-root": "/data/docker"}"#).unwrap();
        let file = EngineConfigFile {
            path: dir.path().join("etc/daemon.json"),
            base,
        };
        if Path::new("/run/systemd/system").exists() {
            return; // would reload this machine's engine
        }
        assert!(file.apply(Some("https://m.example")).unwrap());
        assert!(!file.apply(Some("https://m.example")).unwrap());
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file.path).unwrap()).unwrap();
        assert_eq!(written["registry-mirrors"][0], "https://m.example");
        assert!(file.apply(None).unwrap());
    }
}
