//! Backups against the real pieces: the agent binary, Debian's restic, dockerd running the
//! test catalog's services installed for real (`notes`: hot, with a "database" dump run in
//! its container; `site`: cold), loop-mounted file systems.

use panier_system_tests::backup::{
    LoopFs, ServiceBox, TestService, restic, tree_sums, write_mixed,
};
use panier_system_tests::engine::engine_url;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

fn agent() -> Agent {
    Agent::start_with(AgentOptions {
        engine: Some(engine_url()),
        ..Default::default()
    })
}

fn cli_json(agent: &Agent, args: &[&str]) -> Value {
    agent.cli_json(args)
}

fn add_folder_target(agent: &Agent, name: &str, path: &std::path::Path) -> String {
    let kit = cli_json(
        agent,
        &[
            "backup",
            "target",
            "add",
            name,
            "--folder",
            path.to_str().unwrap(),
        ],
    );
    let password = kit["password"].as_str().unwrap().to_owned();
    assert!(
        !agent.log_text().contains(&password),
        "the password never reaches the log"
    );
    password
}

fn snapshot_of(agent: &Agent, target: &str, tag: &str) -> String {
    let list = cli_json(agent, &["backup", "list", target]);
    let s = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tags"].as_array().unwrap().iter().any(|t| t == tag))
        .unwrap_or_else(|| panic!("no snapshot tagged {tag}: {list}"));
    s["id"].as_str().unwrap().to_owned()
}

/// Snapshots of `target` carrying every one of `tags`.
fn snapshots_with(agent: &Agent, target: &str, tags: &[&str]) -> Vec<Value> {
    let list = cli_json(agent, &["backup", "list", target]);
    list.as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            tags.iter()
                .all(|t| s["tags"].as_array().unwrap().iter().any(|x| x == t))
        })
        .cloned()
        .collect()
}

/// Some files of mixed kinds in a service's volume.
fn fill(service: &TestService, volume: &str) {
    let dir = service.volumes.join(volume).join("files");
    std::fs::create_dir_all(dir.join("nested/deeper")).unwrap();
    write_mixed(&dir, 1).unwrap();
}

/// A box with the `notes` service installed and filled, and a folder target `dossier`.
fn notes_saved_to_a_folder() -> (ServiceBox, TestService, tempfile::TempDir) {
    let sb = ServiceBox::start();
    let notes = sb.install("notes", &["title=Médiathèque"]);
    fill(&notes, "db");
    let tmp = tempfile::tempdir().unwrap();
    add_folder_target(&sb.agent, "dossier", &tmp.path().join("repo"));
    (sb, notes, tmp)
}

/// Puts a version 2.0-1 of the `notes` service in the box's catalog whose database container
/// runs `script` (the agent reads the catalog at its next start).
fn catalog_version_2(sb: &ServiceBox, notes: &TestService, script: &str) {
    let manifest = sb.catalog.path().join(&notes.app).join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let v1 = r#"command = ["sh", "-c", "echo \"$DB_PASSWORD\" > /data/password; exec httpd -f -p 5432 -h /data"]"#;
    assert!(text.contains(v1) && text.contains("version = \"1.0-1\""));
    let v2 = text
        .replace("version = \"1.0-1\"", "version = \"2.0-1\"")
        .replace(v1, &format!(r#"command = ["sh", "-c", "{script}"]"#));
    std::fs::write(&manifest, v2).unwrap();
}

/// Random data in a service's volume, so that its snapshot lasts a moment.
fn big(service: &TestService, volume: &str, files: usize, mib: usize) {
    let dir = service.volumes.join(volume).join("big");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..files {
        let ok = std::process::Command::new("dd")
            .args([
                "if=/dev/urandom",
                &format!("of={}/f{i}", dir.display()),
                "bs=1M",
                &format!("count={mib}"),
                "status=none",
            ])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

#[test]
fn backup_wipe_restore_is_byte_identical_and_restic_interoperates() {
    let sb = ServiceBox::start();
    let agent = &sb.agent;
    let session = agent.login("camille", "un mot de passe solide");
    let notes = sb.install("notes", &["title=Médiathèque"]);
    let site = sb.install("site", &[]);
    fill(&notes, "db");
    std::fs::write(
        notes.volumes.join("db/live.db"),
        "CREATE TABLE t(x);\nINSERT INTO t VALUES ('notes');\n",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let password = add_folder_target(agent, "dossier", &repo);
    // Alerts until the kit is confirmed.
    let st = cli_json(agent, &["backup", "status"]);
    assert_eq!(st["alerts"][0]["key"], "backup_kit_unconfirmed");
    cli_json(agent, &["backup", "kit", "dossier", "--confirm"]);

    let runs = cli_json(agent, &["backup", "run"]);
    assert_eq!(runs[0]["ok"], true, "{runs}");
    assert!(
        runs[0]["peak_rss_kib"].as_i64().unwrap() > 0,
        "restic's peak memory is measured"
    );
    wait_until(
        Duration::from_secs(30),
        "both services to run after the backup (the cold one restarted)",
        || notes.running() && site.running(),
    )
    .unwrap();
    let before = tree_sums(&notes.volumes);
    // The hot service's "database dump" ran inside its db container, before the snapshot.
    let dump = std::fs::read_to_string(notes.volumes.join("db/dump.sql")).unwrap();
    let secret = std::fs::read_to_string(notes.volumes.join("db/password")).unwrap();
    assert_eq!(
        dump,
        format!("{secret}-- dumped on {}\n", notes.hostname("db")),
        "the pre command ran in the container"
    );
    assert!(
        before.contains_key("db/dump.sql") && before.contains_key("db/files/nested/photo.bin"),
        "{before:?}"
    );
    assert_eq!(
        snapshots_with(agent, "dossier", &[&format!("app={}", site.app)]).len(),
        1,
        "the cold service has its snapshot"
    );

    // Wipe, then restore the service to its snapshot.
    std::fs::remove_dir_all(notes.volumes.join("db/files")).unwrap();
    std::fs::write(notes.volumes.join("db/live.db"), "broken").unwrap();
    let snap = snapshot_of(agent, "dossier", &format!("app={}", notes.app));
    let out = agent.cli(&[
        "backup", "restore", "--target", "dossier", "--app", &notes.app, &snap,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        Duration::from_secs(30),
        "the service to run after the restore",
        || notes.running(),
    )
    .unwrap();
    // (its db container rewrites its password file as it starts: same content, but give it
    // the moment it takes)
    wait_until(
        Duration::from_secs(10),
        "the restored tree to be byte-identical",
        || tree_sums(&notes.volumes) == before,
    )
    .unwrap_or_else(|e| panic!("{e}: {:?} vs {before:?}", tree_sums(&notes.volumes)));
    // Stopped and started through the services domain: a `restore` job held it.
    let status = cli_json(agent, &["app", "status", &notes.app]);
    assert_eq!(
        (
            status["job"]["kind"].as_str(),
            status["job"]["state"].as_str()
        ),
        (Some("restore"), Some("succeeded")),
        "{status}"
    );
    // The safety snapshot of the wiped state exists.
    assert_eq!(
        snapshots_with(
            agent,
            "dossier",
            &["reason=safety", &format!("app={}", notes.app)]
        )
        .len(),
        1
    );

    // Debian's restic reads, checks and restores Panier's repository.
    restic(&repo, &password, &["check"]).unwrap();
    let out_dir = tmp.path().join("by-restic");
    restic(
        &repo,
        &password,
        &["restore", &snap, "--target", out_dir.to_str().unwrap()],
    )
    .unwrap();
    let rel = notes.volumes.strip_prefix("/").unwrap();
    assert_eq!(tree_sums(&out_dir.join(rel)), before);

    // Download one file from a snapshot.
    let mut r = session
        .http
        .get(&format!(
            "{}/api/v1/backup/targets/dossier/snapshots/{snap}/file?path={}/db/files/readme.txt",
            session.base,
            notes.volumes.display()
        ))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.body_mut().read_to_vec().unwrap(),
        std::fs::read(notes.volumes.join("db/files/readme.txt")).unwrap()
    );

    // Panier reads a repository made by restic.
    let foreign = tmp.path().join("foreign");
    restic(&foreign, "un mot de passe à moi", &["init"]).unwrap();
    restic(
        &foreign,
        "un mot de passe à moi",
        &["backup", notes.volumes.join("db/files").to_str().unwrap()],
    )
    .unwrap();
    let wrong = agent.cli_with_stdin(
        &[
            "backup",
            "target",
            "add",
            "autre",
            "--folder",
            foreign.to_str().unwrap(),
            "--password-stdin",
        ],
        "pas le bon\n",
    );
    assert!(
        !wrong.status.success()
            && String::from_utf8_lossy(&wrong.stderr).contains("backup_wrong_password"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let ok = agent.cli_with_stdin(
        &[
            "backup",
            "target",
            "add",
            "autre",
            "--folder",
            foreign.to_str().unwrap(),
            "--password-stdin",
        ],
        "un mot de passe à moi\n",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let list = cli_json(agent, &["backup", "list", "autre"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn whole_box_restore_into_another_agent_with_another_name() {
    let mut sb = ServiceBox::start();
    let first = &sb.agent;
    let notes = sb.install("notes", &["title=Médiathèque"]);
    fill(&notes, "db");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let password = add_folder_target(first, "cle", &repo);
    assert_eq!(cli_json(first, &["backup", "run"])[0]["ok"], true);
    let saved = tree_sums(&notes.volumes);
    let first_dir = first.data_dir.clone();
    // The old box is gone, and its containers with it.
    sb.agent.kill9();
    sb.remove_objects();

    let second = agent();
    assert_ne!(second.data_dir, first_dir);
    let code = second.setup_code();
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = |pw: &str| json!({"code": code, "location": {"kind": "folder", "path": repo}, "password": pw, "box_name": "nouvelle"});
    let mut r = http
        .post(&second.url("/api/v1/setup/restore"))
        .send_json(body("mauvais mot de passe"))
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.body_mut().read_json::<Value>().unwrap()["error"],
        "backup_wrong_password"
    );
    let mut r = http
        .post(&second.url("/api/v1/setup/restore"))
        .send_json(body(&password))
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );

    // The restored box runs its services again, on its own engine objects, with their data
    // byte-identical under the new data dir.
    wait_until(
        Duration::from_secs(60),
        "the restored service to run",
        || notes.running(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", second.log_text()));
    let restored = second
        .data_dir
        .join("apps")
        .join(&notes.app)
        .join("volumes");
    wait_until(
        Duration::from_secs(10),
        "the restored data to be byte-identical",
        || tree_sums(&restored) == saved,
    )
    .unwrap_or_else(|e| panic!("{e}: {:?} vs {saved:?}", tree_sums(&restored)));
    let session = second.login("camille", "un mot de passe solide");
    let (_, status) = session.get("/api/v1/status");
    assert_eq!(status["box_name"], "nouvelle");
    assert_eq!(status["setup_done"], true);
    let targets = cli_json(&second, &["backup", "target", "list"]);
    assert_eq!(
        targets[0]["name"], "cle",
        "the target came back with the state"
    );
    // The restored box backs up again to the same repository.
    assert_eq!(cli_json(&second, &["backup", "run"])[0]["ok"], true);
}

#[test]
fn kill9_of_the_backup_process_leaves_a_sound_repository() {
    let sb = ServiceBox::start();
    let agent = &sb.agent;
    let site = sb.install("site", &[]);
    // Enough data for the backup to last a moment.
    big(&site, "www", 6, 50);
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let password = add_folder_target(agent, "dossier", &repo);
    let session = agent.login("camille", "un mot de passe solide");
    let (code, _) = session.send("POST", "/api/v1/backup/run", json!({}));
    assert_eq!(code, 202);
    let mut pid = 0;
    wait_until(
        Duration::from_secs(60),
        "restic backing up the service",
        || {
            let (_, st) = session.get("/api/v1/backup/status");
            pid = st["progress"]["pid"].as_u64().unwrap_or(0);
            st["progress"]["part"] == site.app.as_str()
                && pid != 0
                && st["progress"]["bytes_done"].as_u64().unwrap_or(0) > 0
        },
    )
    .unwrap();
    assert!(
        site.stopped(),
        "the cold service is stopped during its snapshot"
    );
    let (_, jobs) = session.get(&format!("/api/v1/apps/{}", site.app));
    assert_eq!(
        (jobs["job"]["kind"].as_str(), jobs["job"]["state"].as_str()),
        (Some("backup"), Some("running")),
        "a backup job holds it: {jobs}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until(Duration::from_secs(30), "the run to end", || {
        session.get("/api/v1/backup/status").1["running"] == false
    })
    .unwrap();
    let (_, st) = session.get("/api/v1/backup/status");
    assert_eq!(st["runs"][0]["status"], "failed");
    wait_until(
        Duration::from_secs(30),
        "the cold service to be restarted after the failed backup",
        || site.running(),
    )
    .unwrap();
    assert!(
        !restic(&repo, &password, &["list", "locks", "--no-lock"])
            .unwrap()
            .trim()
            .is_empty(),
        "the killed restic left its lock"
    );
    restic(&repo, &password, &["check", "--no-lock"]).unwrap();
    let runs = cli_json(agent, &["backup", "run"]);
    assert_eq!(
        runs[0]["ok"], true,
        "the next backup handles the stale lock: {runs}"
    );
    restic(&repo, &password, &["check"]).unwrap();
}

#[test]
fn full_missing_target_give_clear_errors_and_services_restart() {
    let sb = ServiceBox::start();
    let agent = &sb.agent;
    let session = agent.login("camille", "un mot de passe solide");
    let site = sb.install("site", &[]);
    big(&site, "www", 3, 10);
    let before = tree_sums(&site.volumes);
    let tmp = tempfile::tempdir().unwrap();
    let small = LoopFs::new(tmp.path(), 16).unwrap();
    add_folder_target(agent, "petit", &small.dir.join("repo"));

    let out = agent.cli(&["backup", "run", "--json"]);
    assert!(!out.status.success());
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["error_key"], "backup_target_full", "{runs}");
    wait_until(
        Duration::from_secs(30),
        "the cold service to be restarted even though the backup failed",
        || site.running(),
    )
    .unwrap();
    assert_eq!(tree_sums(&site.volumes), before, "nothing lost");

    // A missing target: the folder is gone (a disk unplugged).
    let tmp2 = tempfile::tempdir().unwrap();
    assert!(
        agent
            .cli(&["backup", "target", "remove", "petit"])
            .status
            .success()
    );
    add_folder_target(agent, "cle", &tmp2.path().join("repo"));
    std::fs::rename(tmp2.path().join("repo"), tmp2.path().join("ailleurs")).unwrap();
    let out = agent.cli(&["backup", "run", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["error_key"], "backup_target_missing", "{runs}");
    assert!(
        !tmp2.path().join("repo").exists(),
        "no new repository is made in its place"
    );
    wait_until(Duration::from_secs(30), "the cold service to run", || {
        site.running()
    })
    .unwrap();
    // The alert: a health issue and a red banner on every admin page.
    let status = cli_json(agent, &["status"]);
    assert!(
        status["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["key"] == "backup_target_missing"),
        "{status}"
    );
    let html = session
        .http
        .get(&format!("{}/admin/admins", session.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        html.contains("class=\"banner\"") && html.contains("était absente"),
        "banner on another admin page"
    );
}

#[test]
fn a_failed_update_puts_the_data_back_and_a_data_deletion_is_saved_first() {
    let (mut sb, notes, _target) = notes_saved_to_a_folder();
    let before = tree_sums(&notes.volumes);
    let safety = |sb: &ServiceBox| {
        snapshots_with(
            &sb.agent,
            "dossier",
            &["reason=safety", &format!("app={}", notes.app)],
        )
        .len()
    };

    // Version 2 "migrates" the database, damaging it, and then cannot start.
    catalog_version_2(
        &sb,
        &notes,
        "echo migrated > /data/password; rm -rf /data/files; exit 3",
    );
    sb.agent.restart();
    let out = sb.agent.cli(&["app", "update", &notes.app, "--follow"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "the update fails: {stdout}");
    assert!(
        stdout.contains("safety_backup"),
        "the safety backup is a step of the update: {stdout}"
    );
    assert!(
        stderr.contains("back to version 1.0-1")
            && stderr.contains("its data was put back from the safety snapshot"),
        "{stderr}"
    );
    wait_until(
        Duration::from_secs(30),
        "the previous version to run",
        || notes.running(),
    )
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the data to be as before the update",
        || tree_sums(&notes.volumes) == before,
    )
    .unwrap_or_else(|e| panic!("{e}: {:?} vs {before:?}", tree_sums(&notes.volumes)));
    assert_eq!(
        cli_json(&sb.agent, &["app", "status", &notes.app])["version"],
        "1.0-1"
    );
    assert_eq!(safety(&sb), 1);

    // Deleting the data: a safety snapshot first, listed with the others.
    let out = sb.agent.cli(&[
        "app",
        "remove",
        &notes.app,
        "--delete-data",
        "--confirm",
        &notes.app,
        "--follow",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("safety_backup"), "{stdout}");
    assert!(!notes.volumes.exists(), "the data is deleted");
    assert_eq!(safety(&sb), 2, "the deleted data is in a safety snapshot");
}

/// An update interrupted by a crash after its safety snapshot, while the new version damages
/// the data: the agent, restarted, resumes the update, and when the new version fails puts the
/// data back from the snapshot it recorded (no second snapshot of damaged data is taken).
#[test]
fn an_update_resumed_after_a_crash_puts_the_data_back_from_its_recorded_safety_snapshot() {
    let (mut sb, notes, _target) = notes_saved_to_a_folder();
    let before = tree_sums(&notes.volumes);

    // Version 2 damages the database, then fails a few seconds later.
    catalog_version_2(
        &sb,
        &notes,
        "echo migrated > /data/password; rm -rf /data/files; sleep 5; exit 3",
    );
    sb.agent.restart();
    assert!(
        sb.agent
            .cli(&["app", "update", &notes.app])
            .status
            .success()
    );
    wait_until(
        Duration::from_secs(60),
        "the new version to damage the data",
        || !notes.volumes.join("db/files").exists(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", sb.agent.log_text()));
    sb.agent.kill9();
    sb.agent.restart();

    wait_until(
        Duration::from_secs(120),
        "the resumed update to end",
        || {
            let job = &cli_json(&sb.agent, &["app", "status", &notes.app])["job"];
            job["kind"] == "resume_update" && job["state"] != "running"
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", sb.agent.log_text()));
    let status = cli_json(&sb.agent, &["app", "status", &notes.app]);
    assert_eq!(
        (status["version"].as_str(), status["job"]["state"].as_str()),
        (Some("1.0-1"), Some("failed")),
        "{status}"
    );
    let message = status["job"]["message"].as_str().unwrap();
    assert!(
        message.contains("back to version 1.0-1")
            && message.contains("its data was put back from the safety snapshot"),
        "{message}"
    );
    wait_until(
        Duration::from_secs(30),
        "the previous version to run",
        || notes.running(),
    )
    .unwrap();
    assert_eq!(
        tree_sums(&notes.volumes),
        before,
        "the data as it was before the update"
    );
    let safety = snapshots_with(
        &sb.agent,
        "dossier",
        &["reason=safety", &format!("app={}", notes.app)],
    );
    assert_eq!(
        safety.len(),
        1,
        "one safety snapshot, taken before the crash: {safety:?}"
    );
}
