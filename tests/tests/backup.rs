//! Backups against the real pieces: the agent binary, Debian's restic, dockerd with busybox
//! containers standing for services (one hot with a "database" dump, one cold), loop-mounted
//! file systems.

use panier_system_tests::backup::{LoopFs, TestService, restic, tree_sums};
use panier_system_tests::engine::engine_url;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

fn agent() -> Agent {
    Agent::start_with(AgentOptions { engine: Some(engine_url()), ..Default::default() })
}

fn cli_json(agent: &Agent, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = agent.cli(&all);
    assert!(out.status.success(), "panier {args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn add_folder_target(agent: &Agent, name: &str, path: &std::path::Path) -> String {
    let kit = cli_json(agent, &["backup", "target", "add", name, "--folder", path.to_str().unwrap()]);
    let password = kit["password"].as_str().unwrap().to_owned();
    assert!(!agent.log_text().contains(&password), "the password never reaches the log");
    password
}

fn snapshot_of(agent: &Agent, target: &str, tag: &str) -> String {
    let list = cli_json(agent, &["backup", "list", target]);
    let s = list.as_array().unwrap().iter().find(|s| s["tags"].as_array().unwrap().iter().any(|t| t == tag)).unwrap_or_else(|| panic!("no snapshot tagged {tag}: {list}"));
    s["id"].as_str().unwrap().to_owned()
}

#[test]
fn backup_wipe_restore_is_byte_identical_and_restic_interoperates() {
    let engine = engine_url();
    let agent = agent();
    let session = agent.ready_session();
    let notes = TestService::create(&engine, &agent.data_dir, "notes", true).unwrap();
    let wiki = TestService::create(&engine, &agent.data_dir, "wiki", false).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let password = add_folder_target(&agent, "dossier", &repo);
    // Alerts until the kit is confirmed.
    let st = cli_json(&agent, &["backup", "status"]);
    assert_eq!(st["alerts"][0]["key"], "backup_kit_unconfirmed");
    cli_json(&agent, &["backup", "kit", "dossier", "--confirm"]);

    let runs = cli_json(&agent, &["backup", "run"]);
    assert_eq!(runs[0]["ok"], true, "{runs}");
    assert!(runs[0]["peak_rss_kib"].as_i64().unwrap() > 0, "restic's peak memory is measured");
    assert!(notes.running() && wiki.running(), "services run after the backup (the cold one restarted)");
    let before = tree_sums(&notes.volumes);
    assert!(before.contains_key("db/dump.sql"), "the hot service's dump is in the backup: {before:?}");

    // Wipe, then restore the service to its snapshot.
    std::fs::remove_dir_all(notes.volumes.join("files")).unwrap();
    std::fs::write(notes.volumes.join("db/live.db"), "broken").unwrap();
    let snap = snapshot_of(&agent, "dossier", "app=notes");
    let out = agent.cli(&["backup", "restore", "--target", "dossier", "--app", "notes", &snap]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tree_sums(&notes.volumes), before, "restored tree is byte-identical");
    assert!(notes.running(), "restarted after the restore");
    // The safety snapshot of the wiped state exists.
    let list = cli_json(&agent, &["backup", "list", "dossier"]);
    assert!(list.as_array().unwrap().iter().any(|s| s["tags"].as_array().unwrap().iter().any(|t| t == "reason=safety")), "{list}");

    // Debian's restic reads, checks and restores Panier's repository.
    restic(&repo, &password, &["check"]).unwrap();
    let out_dir = tmp.path().join("by-restic");
    restic(&repo, &password, &["restore", &snap, "--target", out_dir.to_str().unwrap()]).unwrap();
    let rel = notes.volumes.strip_prefix("/").unwrap();
    assert_eq!(tree_sums(&out_dir.join(rel)), before);

    // Download one file from a snapshot.
    let mut r = session.http.get(&format!("{}/api/v1/backup/targets/dossier/snapshots/{snap}/file?path={}/files/readme.txt", session.base, notes.volumes.display())).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_mut().read_to_vec().unwrap(), std::fs::read(notes.volumes.join("files/readme.txt")).unwrap());

    // Panier reads a repository made by restic.
    let foreign = tmp.path().join("foreign");
    restic(&foreign, "un mot de passe à moi", &["init"]).unwrap();
    restic(&foreign, "un mot de passe à moi", &["backup", notes.volumes.join("files").to_str().unwrap()]).unwrap();
    let wrong = agent.cli_with_stdin(&["backup", "target", "add", "autre", "--folder", foreign.to_str().unwrap(), "--password-stdin"], "pas le bon\n");
    assert!(!wrong.status.success() && String::from_utf8_lossy(&wrong.stderr).contains("backup_wrong_password"), "{}", String::from_utf8_lossy(&wrong.stderr));
    let ok = agent.cli_with_stdin(&["backup", "target", "add", "autre", "--folder", foreign.to_str().unwrap(), "--password-stdin"], "un mot de passe à moi\n");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let list = cli_json(&agent, &["backup", "list", "autre"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn whole_box_restore_into_another_agent_with_another_name() {
    let engine = engine_url();
    let first = agent();
    first.ready_session();
    let notes = TestService::create(&engine, &first.data_dir, "notes", true).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let password = add_folder_target(&first, "cle", &repo);
    assert_eq!(cli_json(&first, &["backup", "run"])[0]["ok"], true);
    let saved = tree_sums(&notes.volumes);

    let second = agent();
    assert_ne!(second.data_dir, first.data_dir);
    let code = second.setup_code();
    let http: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let body = |pw: &str| json!({"code": code, "location": {"kind": "folder", "path": repo}, "password": pw, "box_name": "nouvelle"});
    let mut r = http.post(&second.url("/api/v1/setup/restore")).send_json(body("mauvais mot de passe")).unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.body_mut().read_json::<Value>().unwrap()["error"], "backup_wrong_password");
    let mut r = http.post(&second.url("/api/v1/setup/restore")).send_json(body(&password)).unwrap();
    assert_eq!(r.status(), 200, "{}", r.body_mut().read_to_string().unwrap());

    let restored = second.data_dir.join("apps/notes/volumes");
    assert_eq!(tree_sums(&restored), saved, "the service's data, byte-identical, under the new data dir");
    let session = second.login("camille", "un mot de passe solide");
    let (_, status) = session.get("/api/v1/status");
    assert_eq!(status["box_name"], "nouvelle");
    assert_eq!(status["setup_done"], true);
    let targets = cli_json(&second, &["backup", "target", "list"]);
    assert_eq!(targets[0]["name"], "cle", "the target came back with the state");
    // The restored box backs up again to the same repository.
    assert_eq!(cli_json(&second, &["backup", "run"])[0]["ok"], true);
}

#[test]
fn kill9_of_the_backup_process_leaves_a_sound_repository() {
    let engine = engine_url();
    let agent = agent();
    agent.ready_session();
    let wiki = TestService::create(&engine, &agent.data_dir, "wiki", false).unwrap();
    // Enough data for the backup to last a moment.
    let big = wiki.volumes.join("files/big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..6 {
        let out = std::process::Command::new("dd").args(["if=/dev/urandom", &format!("of={}/f{i}", big.display()), "bs=1M", "count=50", "status=none"]).status().unwrap();
        assert!(out.success());
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let password = add_folder_target(&agent, "dossier", &repo);
    let session = agent.login("camille", "un mot de passe solide");
    let (code, _) = session.send("POST", "/api/v1/backup/run", json!({}));
    assert_eq!(code, 202);
    let mut pid = 0;
    wait_until(Duration::from_secs(60), "restic backing up the service", || {
        let (_, st) = session.get("/api/v1/backup/status");
        pid = st["progress"]["pid"].as_u64().unwrap_or(0);
        st["progress"]["part"] == "wiki" && pid != 0 && st["progress"]["bytes_done"].as_u64().unwrap_or(0) > 0
    })
    .unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until(Duration::from_secs(30), "the run to end", || session.get("/api/v1/backup/status").1["running"] == false).unwrap();
    let (_, st) = session.get("/api/v1/backup/status");
    assert_eq!(st["runs"][0]["status"], "failed");
    wait_until(Duration::from_secs(10), "the cold service to be restarted", || wiki.running()).unwrap();
    assert!(restic(&repo, &password, &["list", "locks", "--no-lock"]).unwrap().trim().len() > 0, "the killed restic left its lock");
    restic(&repo, &password, &["check", "--no-lock"]).unwrap();
    let runs = cli_json(&agent, &["backup", "run"]);
    assert_eq!(runs[0]["ok"], true, "the next backup handles the stale lock: {runs}");
    restic(&repo, &password, &["check"]).unwrap();
}

#[test]
fn full_missing_target_give_clear_errors_and_services_restart() {
    let engine = engine_url();
    let agent = agent();
    let session = agent.ready_session();
    let wiki = TestService::create(&engine, &agent.data_dir, "wiki", false).unwrap();
    let big = wiki.volumes.join("files/big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..3 {
        assert!(std::process::Command::new("dd").args(["if=/dev/urandom", &format!("of={}/f{i}", big.display()), "bs=1M", "count=10", "status=none"]).status().unwrap().success());
    }
    let before = tree_sums(&wiki.volumes);
    let tmp = tempfile::tempdir().unwrap();
    let small = LoopFs::new(tmp.path(), 16).unwrap();
    add_folder_target(&agent, "petit", &small.dir.join("repo"));

    let out = agent.cli(&["backup", "run", "--json"]);
    assert!(!out.status.success());
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["error_key"], "backup_target_full", "{runs}");
    assert!(wiki.running(), "the cold service is restarted even though the backup failed");
    assert_eq!(tree_sums(&wiki.volumes), before, "nothing lost");

    // A missing target: the folder is gone (a disk unplugged).
    let tmp2 = tempfile::tempdir().unwrap();
    assert!(agent.cli(&["backup", "target", "remove", "petit"]).status.success());
    add_folder_target(&agent, "cle", &tmp2.path().join("repo"));
    std::fs::rename(tmp2.path().join("repo"), tmp2.path().join("ailleurs")).unwrap();
    let out = agent.cli(&["backup", "run", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["error_key"], "backup_target_missing", "{runs}");
    assert!(!tmp2.path().join("repo").exists(), "no new repository is made in its place");
    assert!(wiki.running());
    // The alert: a health issue and a red banner on every admin page.
    let status = cli_json(&agent, &["status"]);
    assert!(status["issues"].as_array().unwrap().iter().any(|i| i["key"] == "backup_target_missing"), "{status}");
    let html = session.http.get(&format!("{}/admin/admins", session.base)).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(html.contains("class=\"banner\"") && html.contains("était absente"), "banner on another admin page");
}
