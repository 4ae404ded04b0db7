//! Debian's Chromium driven over WebDriver (Debian's chromedriver), headless, for UI tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running chromedriver; killed on drop.
pub struct Driver {
    child: Child,
    pub url: String,
    pub profile: tempfile::TempDir,
}

impl Driver {
    pub fn start() -> Driver {
        let port = crate::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian package chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        crate::wait_until(std::time::Duration::from_secs(20), "chromedriver", || {
            ureq::get(&format!("{url}/status")).call().is_ok()
        })
        .unwrap();
        Driver {
            child,
            url,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    /// Chromium's command-line arguments for a headless run with a fresh profile.
    pub fn chromium_args(&self, width: u32, height: u32) -> Vec<String> {
        [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("--user-data-dir={}", self.profile.path().display()),
            format!("--window-size={width},{height}"),
        ])
        .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where tests save screenshots and other artifacts: `tests/artifacts/` (ignored by git).
pub fn artifacts_dir() -> PathBuf {
    let dir = crate::workspace_root().join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
