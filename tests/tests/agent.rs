//! The real `panier` binary as a process: start, setup, CLI, diagnostic mode, clean stop.

use panier_system_tests::{Agent, AgentOptions, panier_bin};
use std::process::Command;
use std::time::Duration;

#[test]
fn setup_once_cli_and_clean_stop() {
    let mut agent = Agent::start();
    let health: serde_json::Value = ureq::get(&agent.url("/api/v1/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["setup_done"], false);

    let code = agent.setup_code();
    assert_eq!(code.len(), 11, "two groups of five: {code}");
    assert!(
        agent.log_text().contains(&code),
        "the setup code is in the log"
    );

    let session = agent.ready_session();
    let again = serde_json::json!({"code": code, "box_name": "autre", "username": "x", "password": "0123456789"});
    let r = ureq::post(&agent.url("/api/v1/setup"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(&again)
        .unwrap();
    assert_eq!(r.status(), 409, "setup cannot be replayed");

    // The CLI goes through the socket: admins, status, log.
    let add = agent.cli_with_stdin(
        &["admin", "add", "dominique", "--password-stdin"],
        "encore un mot de passe\n",
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let list = String::from_utf8(agent.cli(&["admin", "list"]).stdout).unwrap();
    assert_eq!(list.lines().collect::<Vec<_>>(), ["camille", "dominique"]);
    let last = agent.cli(&["admin", "remove", "camille"]);
    assert!(last.status.success());
    let refused = agent.cli(&["admin", "remove", "dominique"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("last admin"));

    let status: serde_json::Value =
        serde_json::from_slice(&agent.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["box_name"], "biblio");
    assert_eq!(status["mode"], "normal");

    let log: Vec<serde_json::Value> = String::from_utf8(agent.cli(&["log", "--json"]).stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("root (cli)", "admin_add", "ok")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("root (cli)", "admin_remove", "refused")),
        "{actions:?}"
    );
    drop(session);

    let status = agent
        .stop_within(Duration::from_secs(10))
        .expect("stops within 10 s on SIGTERM");
    assert!(status.success());
    assert!(!agent.socket.exists(), "the socket is removed on stop");

    // State survives a restart; the setup code is gone for good.
    agent.restart();
    let out = agent.cli(&["setup-code"]);
    assert!(!out.status.success());
    let status: serde_json::Value =
        serde_json::from_slice(&agent.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["setup_done"], true);
}

#[test]
fn cli_says_when_the_agent_is_not_running() {
    let out = Command::new(panier_bin())
        .args(["status", "--socket", "/nonexistent/panier.sock"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not running"));
}

fn diagnostic_after(prepare: impl FnOnce(&std::path::Path), reason: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    prepare(&data);
    let original = std::fs::read(data.join("panier.db")).unwrap();
    let agent = Agent::start_with(AgentOptions {
        data_dir: Some(data.clone()),
        ..Default::default()
    });

    let health: serde_json::Value = ureq::get(&agent.url("/api/v1/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(health["status"], "diagnostic");
    assert!(
        !data.join("panier.db").exists(),
        "no new database was created in its place"
    );
    let kept: Vec<_> = std::fs::read_dir(data.join("kept-aside"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let kept_db = kept
        .iter()
        .find(|p| !p.to_string_lossy().ends_with("-wal") && !p.to_string_lossy().ends_with("-shm"))
        .unwrap();
    assert_eq!(
        std::fs::read(kept_db).unwrap(),
        original,
        "the database is kept byte for byte"
    );

    let out = agent.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DIAGNOSTIC")
            && text.contains("kept aside")
            && text.contains("panier diagnostic clear"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&agent.cli(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["diagnosis"]["reason"], reason);

    let page = ureq::get(&agent.url("/admin"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        page.contains("Mode diagnostic") && page.contains("kept-aside"),
        "the UI explains: {page}"
    );
    let api = ureq::get(&agent.url("/api/v1/admins"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(api.status(), 503);
    drop(agent);

    // Still diagnostic after a restart, until cleared; then a fresh start.
    let agent = Agent::start_with(AgentOptions {
        data_dir: Some(data.clone()),
        ..Default::default()
    });
    let health: serde_json::Value = ureq::get(&agent.url("/api/v1/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(health["status"], "diagnostic");
    drop(agent);
    let out = Command::new(panier_bin())
        .args(["diagnostic", "clear", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let agent = Agent::start_with(AgentOptions {
        data_dir: Some(data),
        ..Default::default()
    });
    let health: serde_json::Value = ureq::get(&agent.url("/api/v1/health"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(kept_db.exists(), "the kept-aside file is still there");
}

#[test]
fn corrupted_database_leads_to_diagnostic_mode() {
    diagnostic_after(
        |data| {
            std::fs::write(
                data.join("panier.db"),
                b"this is not a database at all, just garbage bytes ".repeat(200),
            )
            .unwrap()
        },
        "db_corrupt",
    );
}

#[test]
fn newer_database_leads_to_diagnostic_mode() {
    diagnostic_after(
        |data| {
            let agent = Agent::start_with(AgentOptions {
                data_dir: Some(data.to_owned()),
                ..Default::default()
            });
            drop(agent);
            let status = Command::new("sqlite3")
                .arg(data.join("panier.db"))
                .arg("PRAGMA user_version = 999;")
                .status()
                .unwrap();
            assert!(status.success());
        },
        "db_too_new",
    );
}

#[test]
fn notifies_systemd_ready_and_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let env = vec![
        ("NOTIFY_SOCKET".to_owned(), notify.display().to_string()),
        ("WATCHDOG_USEC".to_owned(), "300000".to_owned()),
    ];
    let mut agent = Agent::start_with(AgentOptions {
        env,
        ..Default::default()
    });
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !(seen.iter().any(|m: &String| m.contains("READY=1"))
        && seen.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    agent.stop_within(Duration::from_secs(10)).unwrap();
    let n = socket.recv(&mut buf).unwrap();
    let mut last = String::from_utf8_lossy(&buf[..n]).into_owned();
    while last.contains("WATCHDOG=1") {
        let n = socket.recv(&mut buf).unwrap();
        last = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    assert!(last.contains("STOPPING=1"), "{last}");
}

#[test]
fn the_socket_refuses_other_users() {
    let agent = Agent::start();
    // uid 65534 (nobody): the socket is 0660 root-owned inside a 0700 directory.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(panier_bin())
        .args(["status", "--socket"])
        .arg(&agent.socket)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("denied"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&agent.socket).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o660);
}

#[test]
fn hardware_tools_work_without_the_daemon() {
    let out = Command::new(panier_bin())
        .args(["hw", "probe", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(probe["cpu"]["threads"].as_u64().unwrap() >= 1);
    assert!(probe["memory"]["total_bytes"].as_u64().unwrap() > 0);
    let check = Command::new(panier_bin())
        .args(["hw", "check", "--lang", "en"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("Verdict"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("this-machine");
    let capture = Command::new(panier_bin())
        .args(["hw", "capture", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        capture.status.success(),
        "{}",
        String::from_utf8_lossy(&capture.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&capture.stdout).unwrap();
    assert_eq!(
        report["mismatch"],
        serde_json::json!([]),
        "the capture reads back as this machine"
    );
    assert_eq!(report["probe"]["cpu"], probe["cpu"]);
    assert!(dir.join("commands.toml").is_file() && dir.join("root/proc/cpuinfo").is_file());
}

/// SSH keys from headless provisioning (`ssh = true`, written by the image's provisioning)
/// open SSH to the LAN at the first start; an admin who closes it is not overruled later.
#[test]
fn provisioned_ssh_keys_open_ssh_once() {
    let mut agent = Agent::start_with(AgentOptions {
        config: Some("ssh = true\n".into()),
        ..Default::default()
    });
    agent.setup("atelier", "camille", "un mot de passe solide");
    let session = agent.login("camille", "un mot de passe solide");
    let ssh = |s: &panier_system_tests::Session| {
        s.get("/api/v1/firewall").1["policy"]["ssh_enabled"].clone()
    };
    assert_eq!(ssh(&session), true);
    let log = agent.cli(&["log", "--json"]);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("provisioning"),
        "the opening is in the audit log"
    );

    let off = agent.cli(&["firewall", "set", "ssh", "off"]);
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    agent.restart();
    let session = agent.login("camille", "un mot de passe solide");
    assert_eq!(ssh(&session), false, "closed by an admin, it stays closed");
}
