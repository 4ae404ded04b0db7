//! What a manifest asks besides its containers, against the real engine with the busybox
//! test image: first-run setup steps (run once with the install form's password, as the
//! user they name, a restart after; a failing step undoes the install and says why), and a
//! service following its address when it changes (an mDNS rename recorded by the box), and
//! one with a fixed address keeping its own.

use panier_system_tests::backup::ServiceBox;
use panier_system_tests::engine::docker;
use panier_system_tests::services::objects_of;
use panier_system_tests::wait_until;
use std::time::Duration;

fn text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn setup_steps_run_once_with_the_forms_password_and_a_failing_one_undoes_the_install() {
    let s = ServiceBox::start();
    let app = s.id("firstrun");
    let password = "un mot de passe du formulaire";
    let dir = s.agent.data_dir.join("apps").join(&app);

    // The step refuses: the install is rolled back, with the step's own words.
    let out = s.agent.cli(&[
        "app",
        "install",
        &app,
        "--follow",
        "--set",
        &format!("admin_password={password}"),
        "--set",
        "fail=true",
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("step 1") && said.contains("the password is refused"),
        "{said}"
    );
    assert_eq!(objects_of(&s.engine, &app), (vec![], vec![]), "{said}");
    assert!(
        !dir.exists(),
        "the rolled-back install left {}",
        dir.display()
    );

    // Done: the steps ran in order, as the user named, with the password only in the
    // step's environment, and the container was restarted after the second.
    let svc = s.install("firstrun", &[&format!("admin_password={password}")]);
    let www = svc.volumes.join("www");
    assert_eq!(text(&www.join("admin.txt")).trim(), password);
    assert_eq!(text(&www.join("setup-user.txt")).trim(), "1234");
    assert_eq!(text(&www.join("setup-done.txt")).trim(), "done");
    assert_eq!(text(&www.join("starts.txt")).lines().count(), 2);
    let env = docker(
        &s.engine,
        &[
            "inspect",
            "-f",
            "{{json .Config.Env}}",
            &format!("panier-{app}-web"),
        ],
    )
    .unwrap();
    assert!(!env.contains(password), "{env}");

    // Starting again does not run the setup again.
    let out = s.agent.cli(&["app", "restart", &app, "--follow"]);
    assert!(out.status.success());
    assert_eq!(text(&www.join("starts.txt")).lines().count(), 3);
    assert_eq!(text(&www.join("setup-done.txt")).lines().count(), 1);
}

#[test]
fn a_service_follows_its_new_address_and_runs_its_address_commands() {
    let s = ServiceBox::start();
    let app = s.id("follow");
    let svc = s.install("follow", &[]);
    let www = svc.volumes.join("www");
    let old = format!("https://{app}-biblio.local");
    assert_eq!(text(&www.join("url.txt")).trim(), old);
    assert!(!www.join("applied.txt").exists());

    // Another device took the name: the box announces `-2` instead (what the mDNS
    // responder records on a conflict), and the reconciler's next pass moves the service.
    // A service whose address is part of its data, renamed the same way, keeps its own.
    let keep = s.id("keep");
    let kept = s.install("keep", &[]).volumes.join("www");
    let db = s.agent.data_dir.join("panier.db");
    let wanted = format!("{app}-biblio.local");
    let announced = format!("{app}-biblio-2.local");
    let sql = format!(
        "INSERT INTO mdns_renames(wanted, announced, detected_at) VALUES ('{wanted}', '{announced}', 0), ('{keep}-biblio.local', '{keep}-biblio-2.local', 0);"
    );
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(&sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A job on the service wakes the reconciler when it ends. The reconciler's own timer may
    // have seen the rename first: then the restart is refused because the move is running.
    let out = s.agent.cli(&["app", "restart", &app, "--follow"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() || said.contains("follow_address"),
        "{said}"
    );
    let new = format!("https://{announced}");
    wait_until(Duration::from_secs(90), "the new address applied", || {
        text(&www.join("applied.txt")).trim() == new
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", s.agent.log_text()));
    assert_eq!(text(&www.join("url.txt")).trim(), new);
    let status: serde_json::Value =
        serde_json::from_slice(&s.agent.cli(&["app", "status", &app, "--json"]).stdout).unwrap();
    assert_eq!(status["url"], new.as_str(), "{status}");

    assert_eq!(
        text(&kept.join("url.txt")).trim(),
        format!("https://{keep}-biblio.local")
    );
    let status: serde_json::Value =
        serde_json::from_slice(&s.agent.cli(&["app", "status", &keep, "--json"]).stdout)
            .unwrap_or_default();
    assert_eq!(
        status["url"],
        format!("https://{keep}-biblio.local").as_str(),
        "{status}"
    );
    assert!(
        status["address_fixed"]
            .as_str()
            .is_some_and(|w| !w.is_empty()),
        "{status}"
    );
}

/// A test service that upgrades its data like Nextcloud: each image knows its major version
/// (`/major`), refuses to start on data more than one major behind, and records each
/// version that migrated the data.
fn major_manifest(id: &str, major: u32, through: &[u32]) -> String {
    let stops: String = through
        .iter()
        .map(|m| {
            format!(
                "\n[[update.through]]\nversion = \"{m}.0-1\"\nimages = {{ web = \"panier-test/major:{m}\" }}\n"
            )
        })
        .collect();
    format!(
        r#"id = "{id}"
version = "{major}.0-1"
category = "tools"
upstream = "https://busybox.net"
license = "GPL-2.0-only"
name = {{ fr = "Majeures", en = "Majors" }}
description = {{ fr = "Une version majeure à la fois.", en = "One major version at a time." }}
first_run = "nothing"
requirements = {{ memory_mb = 16, disk_mb = 10 }}

[[volumes]]
name = "data"

[[containers]]
name = "web"
image = "panier-test/major:{major}"
command = ["sh", "-c", "m=$(cat /major); d=$(cat /data/version 2>/dev/null || echo 0); if [ $d -gt 0 ] && [ $m -gt $((d + 1)) ]; then echo cannot skip from $d to $m >&2; exit 1; fi; if [ $m != $d ]; then echo $m >> /data/history; echo $m > /data/version; fi; exec httpd -f -p 8080 -h /data"]
memory_mb = 16
stop_grace_s = 1
ports = [8080]
mounts = [{{ volume = "data", path = "/data" }}]

[[probe]]
http = "/"
contains = "hello"

[web]
container = "web"
port = 8080

[backup]
volumes = ["data"]
mode = "cold"

[update]
one_major_at_a_time = true
{stops}
[[provenance]]
image = "panier-test/major:{major}"
repository = "https://salsa.debian.org/installer-team/busybox"
tag = "Debian bookworm's busybox-static"
files = ["tests/src/engine.rs"]
read_on = "2026-12-02"
binaries = ["sh", "cat", "httpd"]
"#
    )
}

#[test]
fn an_update_across_two_majors_goes_through_the_one_between() {
    let mut s = ServiceBox::start();
    for m in 1..=3 {
        let major = m.to_string();
        panier_system_tests::engine::busybox_image(
            &s.engine,
            &format!("panier-test/major:{m}"),
            &[("/major", &major)],
            r#"["sh"]"#,
        )
        .unwrap();
    }
    let app = s.id("major");
    let dir = s.catalog.path().join(&app);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["icon.svg", "description.fr.md", "description.en.md"] {
        std::fs::copy(s.catalog.path().join(s.id("site")).join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("manifest.toml"), major_manifest(&app, 1, &[])).unwrap();
    s.agent.restart();
    let svc = s.install("major", &[]);
    let history = svc.volumes.join("data/history");
    assert_eq!(text(&history), "1\n");

    // Version 3 of the catalog: the update runs 2 until it is ready, then 3.
    std::fs::write(dir.join("manifest.toml"), major_manifest(&app, 3, &[2])).unwrap();
    s.agent.restart();
    let out = s.agent.cli(&["app", "update", &app, "--follow"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", s.agent.log_text());
    assert_eq!(text(&history), "1\n2\n3\n", "{said}");
    assert!(
        s.agent
            .log_text()
            .contains("running version 2.0-1 during the update"),
        "{}",
        s.agent.log_text()
    );
}
