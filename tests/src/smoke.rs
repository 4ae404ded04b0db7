//! Helpers for the package-check tests: `panier catalog smoke` run as a process on the test
//! engine with a temporary directory of its own (`TMPDIR`, where its scratch agents live, so
//! a test can see that nothing is left there), its JSON report, and what the engine still
//! has of a service.

use crate::engine::engine_url;
use crate::panier_bin;
use crate::services::objects_of;
use std::path::Path;
use std::process::{Command, Output};

/// A finished smoke run.
pub struct SmokeRun {
    pub output: Output,
    /// The JSON report (`--json`).
    pub report: serde_json::Value,
}

impl SmokeRun {
    /// The report of `service`.
    pub fn service(&self, service: &str) -> &serde_json::Value {
        self.report["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["service"] == service))
            .unwrap_or_else(|| panic!("no report of {service}: {}", self.report))
    }

    /// The result of `step` for `service` (`ok`, `failed`, `skipped`) and its English reason.
    pub fn step(&self, service: &str, step: &str) -> (String, String) {
        let s = self.service(service)["steps"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["step"] == step))
            .unwrap_or_else(|| panic!("no step {step} for {service}: {}", self.report));
        (
            s["result"].as_str().unwrap_or("").to_owned(),
            s["reason"]["en"].as_str().unwrap_or("").to_owned(),
        )
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `panier catalog smoke ARGS --catalog CATALOG --engine <test engine> --json` with
/// `tmp` as its temporary directory.
pub fn smoke(catalog: &Path, tmp: &Path, args: &[&str]) -> SmokeRun {
    let output = Command::new(panier_bin())
        .args(["catalog", "smoke"])
        .args(args)
        .arg("--catalog")
        .arg(catalog)
        .args(["--engine", &engine_url(), "--json"])
        .env("TMPDIR", tmp)
        .output()
        .expect("panier catalog smoke runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    SmokeRun { output, report }
}

/// What the engine still has of `app` (containers, networks), and what is left in `tmp`.
pub fn left_behind(app: &str, tmp: &Path) -> Vec<String> {
    let engine = engine_url();
    let (containers, networks) = objects_of(&engine, app);
    let mut left: Vec<String> = containers.into_iter().chain(networks).collect();
    left.extend(
        std::fs::read_dir(tmp)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().display().to_string()),
    );
    left
}
