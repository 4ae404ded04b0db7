//! Attacks on backups with the real pieces: restic 0.14, OpenSSH's client and server.
//!
//! - An SFTP target whose user or host carries ssh options (restic splits its `sftp.command`
//!   on backslashes, so `nas\-oProxyCommand=…` once ran a command as root at every backup)
//!   is refused before anything runs, through the API, before setup through the whole-box
//!   restore, and when such a location is already in the database.
//! - A real SFTP target (sshd on loopback, the box's own key) still works end to end: what the
//!   fix changed (an ssh configuration file instead of options on the command) is exercised.

use panier_system_tests::Agent;
use panier_system_tests::sshd::Sshd;
use serde_json::json;
use std::path::Path;

/// A host or user that carries `-oProxyCommand=touch <marker>` past restic's splitting.
fn smuggled(prefix: &str, marker: &Path) -> String {
    format!("{prefix}\\-oProxyCommand=touch${{IFS}}{}", marker.display())
}

fn sftp(user: &str, host: &str, port: u16, path: &str) -> serde_json::Value {
    json!({"kind": "sftp", "user": user, "host": host, "port": port, "path": path})
}

#[test]
fn sftp_fields_cannot_smuggle_ssh_options() {
    let agent = Agent::start();
    let s = agent.ready_session();
    let markers = tempfile::tempdir().unwrap();
    let by_host = markers.path().join("by-host");
    let by_user = markers.path().join("by-user");
    for (name, location, key) in [
        (
            "evil-host",
            sftp("panier", &smuggled("nas", &by_host), 22, "/srv/b"),
            "backup_target_bad_host",
        ),
        (
            "evil-user",
            sftp(&smuggled("panier", &by_user), "127.0.0.1", 22, "/srv/b"),
            "backup_target_bad_user",
        ),
    ] {
        let (status, body) = s.send(
            "POST",
            "/api/v1/backup/targets",
            json!({"name": name, "location": location}),
        );
        assert_eq!((status, body["error"].as_str()), (400, Some(key)), "{body}");
    }
    assert!(!by_host.exists(), "the host's ProxyCommand ran");
    assert!(!by_user.exists(), "the user's ProxyCommand ran");

    // A location stored by an older version (or edited into the database) cannot run either:
    // every use checks it again.
    let by_row = markers.path().join("by-row");
    let location = sftp("panier", &smuggled("nas", &by_row), 22, "/srv/b").to_string();
    let db = agent.data_dir.join("panier.db");
    panier_system_tests::netns::sh(&[
        "sqlite3",
        &db.display().to_string(),
        &format!(
            "INSERT INTO backup_targets (name, kind, location, password, created_at) VALUES ('old', 'sftp', '{location}', 'p', 0)"
        ),
    ])
    .unwrap();
    let (status, body) = s.send(
        "POST",
        "/api/v1/backup/run",
        json!({"target": "old", "wait": true}),
    );
    assert!(!by_row.exists(), "a stored location's ProxyCommand ran");
    let text = body.to_string();
    assert!(
        status != 200 || text.contains("backup_target_bad_host"),
        "{status} {text}"
    );
}

#[test]
fn the_whole_box_restore_at_setup_refuses_smuggled_ssh_options() {
    let agent = Agent::start();
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    let r = ureq::post(&agent.url("/api/v1/setup/restore"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(json!({
            "code": agent.setup_code(),
            "location": sftp("panier", &smuggled("nas", &ran), 22, "/srv/b"),
            "password": "whatever",
        }))
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.into_body().read_json().unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("backup_target_bad_host")),
        "{body}"
    );
    assert!(!ran.exists(), "the ProxyCommand ran at setup");
}

#[test]
fn a_real_sftp_target_backs_up_through_the_ssh_configuration_file() {
    let agent = Agent::start();
    let s = agent.ready_session();
    let (status, key) = s.get("/api/v1/backup/ssh-key");
    assert_eq!(status, 200);
    let sshd = Sshd::start(key["public_key"].as_str().unwrap()).unwrap();
    let repo = sshd.folder("repo");
    let (status, kit) = s.send(
        "POST",
        "/api/v1/backup/targets",
        json!({"name": "nas", "location": sftp("root", "127.0.0.1", sshd.port, &repo.display().to_string())}),
    );
    assert_eq!(status, 201, "{kit}\n{}\n{}", sshd.log(), agent.log_text());
    let (status, runs) = s.send(
        "POST",
        "/api/v1/backup/run",
        json!({"target": "nas", "wait": true}),
    );
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs[0]["ok"], true, "{runs}\n{}", sshd.log());
    // Plain restic reads what the box wrote over SFTP, with the kit's password.
    let listed = panier_system_tests::backup::restic(
        &repo,
        kit["password"].as_str().unwrap(),
        &["snapshots", "--json"],
    )
    .unwrap();
    assert!(listed.contains("part=state"), "{listed}");
    // The ssh configuration holds the user and host; the command restic splits does not.
    let config = std::fs::read_dir(agent.data_dir.join("backup/ssh"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("config-"))
        .expect("an ssh configuration file");
    let text = std::fs::read_to_string(config.path()).unwrap();
    assert!(
        text.contains("HostName 127.0.0.1") && text.contains("User root"),
        "{text}"
    );
}

/// `restic backup` run by someone holding the repository's password (the kit), with tags of
/// their choosing.
fn plant(repo: &Path, password: &str, tags: &[String], path: &Path) {
    let mut args = vec!["backup".to_owned()];
    for t in tags {
        args.extend(["--tag".to_owned(), t.clone()]);
    }
    args.push(path.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    panier_system_tests::backup::restic(repo, password, &args).unwrap();
}

/// The `run=` tag of the newest box state snapshot.
fn latest_run(repo: &Path, password: &str) -> String {
    let list: serde_json::Value = serde_json::from_str(
        &panier_system_tests::backup::restic(repo, password, &["snapshots", "--json"]).unwrap(),
    )
    .unwrap();
    let mut states: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "part=state")
        })
        .collect();
    states.sort_by_key(|s| s["time"].as_str().unwrap().to_owned());
    states.last().unwrap()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t.as_str()?.strip_prefix("run=").map(str::to_owned))
        .unwrap()
}

/// A malicious repository (a real box's backups plus snapshots someone else added with plain
/// restic) restored onto a fresh box: a volume that is a link to the host's root, a service
/// snapshot aimed at the TLS keys, a link inside a volume leading out. Each is refused before
/// anything is replaced; the fresh box is still fresh and restores the clean run afterwards.
#[test]
fn a_hostile_repository_cannot_write_outside_what_it_restores() {
    let a = Agent::start();
    let s = a.ready_session();
    let place = tempfile::tempdir().unwrap();
    let repo = place.path().join("repo");
    let (status, kit) = s.send(
        "POST",
        "/api/v1/backup/targets",
        json!({"name": "disque", "location": {"kind": "folder", "path": repo}}),
    );
    assert_eq!(status, 201, "{kit}");
    let password = kit["password"].as_str().unwrap().to_owned();
    let back_up = || {
        let (status, runs) = s.send(
            "POST",
            "/api/v1/backup/run",
            json!({"target": "disque", "wait": true}),
        );
        assert!(status == 200 && runs[0]["ok"] == true, "{runs}");
    };
    let b = Agent::start();
    let restore = || {
        let r = ureq::post(&b.url("/api/v1/setup/restore"))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(json!({
                "code": b.setup_code(),
                "location": {"kind": "folder", "path": repo},
                "password": password,
            }))
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.into_body()
                .read_json::<serde_json::Value>()
                .unwrap_or_default(),
        )
    };
    let evil = tempfile::tempdir().unwrap();
    let app_tags = |run: &str, datadir: &Path| {
        vec![
            "panier".to_owned(),
            "part=app".into(),
            "app=notes".into(),
            format!("run={run}"),
            format!("datadir={}", datadir.display()),
        ]
    };

    // 1. The service's volume itself is a link to /.
    back_up();
    let src = evil.path().join("one");
    std::fs::create_dir_all(src.join("apps/notes/volumes")).unwrap();
    std::os::unix::fs::symlink("/", src.join("apps/notes/volumes/db")).unwrap();
    let run = latest_run(&repo, &password);
    plant(
        &repo,
        &password,
        &app_tags(&run, &src),
        &src.join("apps/notes/volumes/db"),
    );
    let (status, body) = restore();
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("backup_restore_confined")),
        "{body}"
    );
    let volume = b.data_dir.join("apps/notes/volumes/db");
    assert!(
        std::fs::symlink_metadata(&volume).is_err(),
        "the volume was planted"
    );

    // 2. A service's snapshot aimed at the box's TLS keys.
    back_up();
    let src = evil.path().join("two");
    std::fs::create_dir_all(src.join("tls")).unwrap();
    std::fs::write(src.join("tls/ca.key"), "attacker's key\n").unwrap();
    let run = latest_run(&repo, &password);
    plant(&repo, &password, &app_tags(&run, &src), &src.join("tls"));
    let (status, body) = restore();
    assert_eq!(status, 422, "{body}");
    assert!(
        std::fs::read_to_string(b.data_dir.join("tls/ca.key"))
            .map_or(true, |k| !k.contains("attacker")),
        "the TLS key was replaced"
    );

    // 3. A link inside the volume that leads out of it.
    back_up();
    let src = evil.path().join("three");
    std::fs::create_dir_all(src.join("apps/notes/volumes/db")).unwrap();
    std::os::unix::fs::symlink("../../../../secrets", src.join("apps/notes/volumes/db/out"))
        .unwrap();
    let run = latest_run(&repo, &password);
    plant(
        &repo,
        &password,
        &app_tags(&run, &src),
        &src.join("apps/notes/volumes/db"),
    );
    let (status, body) = restore();
    assert_eq!(status, 422, "{body}");
    assert!(std::fs::symlink_metadata(volume.join("out")).is_err());

    // Nothing was replaced: the fresh box still offers setup, and restores a clean run.
    back_up();
    let (status, body) = restore();
    assert_eq!(status, 200, "{body}\n{}", b.log_text());
    assert_eq!(body["box_name"], "biblio");
}
