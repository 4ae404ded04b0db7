//! Helpers for the services tests: a copy of the test catalog (`tests/catalog/`) with unique
//! service ids, the test image, a podman service, and looks at the engine.

use crate::engine::docker;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const TEST_IMAGE: &str = "panier-test/busybox:1";

/// Builds the busybox test image on `engine` if it is missing.
pub fn test_image(engine: &str) {
    crate::engine::busybox_image(engine, TEST_IMAGE, &[], r#"["sh"]"#)
        .expect("the test image builds");
}

/// Copies `tests/catalog/*` into `dir`, renaming each service `<id>` to `<id><suffix>`, so
/// that tests sharing one engine never use the same names.
pub fn test_catalog(dir: &Path, suffix: &str) -> Vec<String> {
    let src = crate::workspace_root().join("tests/catalog");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let new_id = format!("{id}{suffix}");
        let dst = dir.join(&new_id);
        std::fs::create_dir_all(&dst).unwrap();
        for f in std::fs::read_dir(entry.path()).unwrap().flatten() {
            let mut text = std::fs::read_to_string(f.path()).unwrap();
            if f.file_name() == "manifest.toml" {
                text = text.replace(&format!("id = \"{id}\""), &format!("id = \"{new_id}\""));
            }
            std::fs::write(dst.join(f.file_name()), text).unwrap();
        }
        ids.push(new_id);
    }
    ids
}

/// A short random suffix for ids.
pub fn suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id();
    format!("-{:x}", n % 0xfffff)
}

/// The IP address of `container` on its networks.
pub fn container_ip(engine: &str, container: &str) -> Option<String> {
    let ip = docker(
        engine,
        &[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            container,
        ],
    )
    .ok()?;
    ip.split_whitespace().next().map(str::to_owned)
}

/// GET over plain HTTP with a short timeout; the body, or None.
pub fn http_get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .http_status_as_error(true)
        .build()
        .into();
    agent
        .get(url)
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
}

/// Removes the containers and networks of the services `ids` from the shared engine when
/// dropped, even after a failure.
pub struct EngineCleanup {
    pub engine: String,
    pub ids: Vec<String>,
}

impl Drop for EngineCleanup {
    fn drop(&mut self) {
        remove_objects(&self.engine, &self.ids);
    }
}

/// Removes the containers and networks of the services `ids` from `engine`.
pub fn remove_objects(engine: &str, ids: &[String]) {
    for id in ids {
        let (containers, networks) = objects_of(engine, id);
        for c in containers {
            let _ = docker(engine, &["rm", "-f", &c]);
        }
        for n in networks {
            let _ = docker(engine, &["network", "rm", &n]);
        }
    }
}

/// Names of the containers (any state) and networks labelled with service `app`.
pub fn objects_of(engine: &str, app: &str) -> (Vec<String>, Vec<String>) {
    let filter = format!("label=org.panier.app={app}");
    let split = |s: String| {
        s.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let containers = docker(
        engine,
        &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
    )
    .map(split)
    .unwrap_or_default();
    let networks = docker(
        engine,
        &[
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ],
    )
    .map(split)
    .unwrap_or_default();
    (containers, networks)
}

/// Starts podman's Docker-compatible API service (runc, cgroupfs, no default ulimits: see
/// FINDINGS) on a socket under `run_dir`, or returns the one already answering there.
pub fn podman_url(run_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(run_dir)?;
    let sock = run_dir.join("podman.sock");
    let url = format!("unix://{}", sock.display());
    let answers = || {
        Command::new("curl")
            .args(["-fsS", "--max-time", "2", "--unix-socket"])
            .arg(&sock)
            .arg("http://d/_ping")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if answers() {
        return Ok(url);
    }
    let conf = run_dir.join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n")?;
    let log = std::fs::File::create(run_dir.join("podman.log"))?;
    Command::new("setsid")
        .args([
            "podman",
            "--runtime",
            "runc",
            "--cgroup-manager=cgroupfs",
            "system",
            "service",
            "--time=0",
            &url,
        ])
        .env("CONTAINERS_CONF", &conf)
        // It outlives this test run: not in a checkout that may be deleted (conmon then fails
        // every start with "Failed to get working directory").
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting podman system service")?;
    for _ in 0..100 {
        if answers() {
            return Ok(url);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "podman did not answer on {url}; see {}",
        run_dir.join("podman.log").display()
    )
}
