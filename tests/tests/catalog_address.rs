//! A service whose address is part of its data (`[address] follow = "fixed"`, the test
//! catalog's `keep`): the access report says that it keeps its address and why (the reasons
//! of `Apps::address_refusals`), and its fixed-port entry works, by address, whatever the
//! `Host`; a service that follows its address has no such note.

use panier_system_tests::engine::{docker, engine_url};
use panier_system_tests::services::{objects_of, suffix, test_catalog, test_image};
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::process::Command;
use std::time::Duration;

/// Removes what the test's services left on the shared engine.
struct Cleanup(String, Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.1 {
            let (containers, networks) = objects_of(&self.0, id);
            for c in containers {
                let _ = docker(&self.0, &["rm", "-f", &c]);
            }
            for n in networks {
                let _ = docker(&self.0, &["network", "rm", &n]);
            }
        }
    }
}

#[test]
fn a_fixed_address_service_says_why_in_the_access_report_and_works_on_its_fixed_port() {
    let engine = engine_url();
    test_image(&engine);
    let catalog = tempfile::tempdir().unwrap();
    let sfx = suffix();
    let _cleanup = Cleanup(engine.clone(), test_catalog(catalog.path(), &sfx));
    let (keep, follow) = (format!("keep{sfx}"), format!("follow{sfx}"));
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine),
        config: Some("box_name = \"biblio\"\n".into()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        web_entry: true,
        ..Default::default()
    });
    let socket = |method: &str, path: &str, body: &str| -> String {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-X",
                method,
                "-H",
                "content-type: application/json",
                "--data",
                body,
                "--unix-socket",
            ])
            .arg(&agent.socket)
            .arg(format!("http://box{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let setup = serde_json::json!({"code": agent.setup_code(), "box_name": "biblio", "language": "fr", "username": "camille", "password": "un mot de passe solide"});
    socket("POST", "/api/v1/setup", &setup.to_string());
    for app in [&keep, &follow] {
        let out = agent.cli(&["app", "install", app, "--follow"]);
        assert!(out.status.success(), "{}", agent.log_text());
    }
    let report = || -> serde_json::Value {
        serde_json::from_str(&agent.socket_get("/api/v1/access")).unwrap_or_default()
    };
    let entry = |app: &str| {
        report()["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == app).cloned())
            .unwrap_or_default()
    };
    wait_until(Duration::from_secs(30), "both routes", || {
        entry(&keep)["port"].is_u64() && entry(&follow)["port"].is_u64()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_text()));
    let kept = entry(&keep);
    assert_eq!(
        kept["address_kept"]["en"], "Its address is written into its data.",
        "{kept}"
    );
    assert_eq!(
        kept["address_kept"]["fr"], "Son adresse est inscrite dans ses données.",
        "{kept}"
    );
    assert!(kept["fixed_port_refusal"].is_null(), "{kept}");
    assert!(entry(&follow)["address_kept"].is_null());

    // Its fixed port works by address (any Host), and serves the address it keeps.
    let port = kept["port"].as_u64().unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{port}/url.txt"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("https://{keep}-biblio.local"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
