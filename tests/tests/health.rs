//! The health centre against real conditions: a data partition (a loop-mounted ext4 file
//! system) filling up, a container killed for memory by the real engine, and a service
//! restarting in a loop; each seen through `panier health`, the API and the Health page.

use panier_system_tests::backup::{LoopFs, ServiceBox};
use panier_system_tests::engine::engine_url;
use panier_system_tests::services::{suffix, test_catalog, test_image};
use panier_system_tests::{Agent, AgentOptions, succeeded as ok, wait_until};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn checks(agent: &Agent) -> Value {
    serde_json::from_str(&ok(&agent.cli(&["health", "--json"]))).unwrap()
}

/// The finding of one check: (state, key).
fn check(agent: &Agent, name: &str) -> (String, String) {
    let report = checks(agent);
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
        .clone();
    (
        c["state"].as_str().unwrap().to_owned(),
        c["key"].as_str().unwrap().to_owned(),
    )
}

fn wait_check(agent: &Agent, name: &str, state: &str, key: &str, secs: u64) {
    let mut last = (String::new(), String::new());
    wait_until(
        Duration::from_secs(secs),
        &format!("the {name} check to say {state}/{key}"),
        || {
            last = check(agent, name);
            last.0 == state && last.1 == key
        },
    )
    .unwrap_or_else(|e| panic!("{e}: last {last:?}\n{}", agent.log_text()));
}

#[test]
fn a_data_partition_filling_up_is_seen_and_guarded() {
    let engine = engine_url();
    test_image(&engine);
    let tmp = tempfile::tempdir().unwrap();
    // 1.5 GiB: room for the 1 GiB reserve and a test service, and 5 % of it is 75 MiB.
    let fs = LoopFs::new(tmp.path(), 1536).expect("a loop file system (needs root)");
    let catalog = tempfile::tempdir().unwrap();
    let suffix = suffix();
    test_catalog(catalog.path(), &suffix);
    let site = format!("site{suffix}");
    let agent = Agent::start_with(AgentOptions {
        data_dir: Some(fs.dir.join("data")),
        engine: Some(engine.clone()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        ..Default::default()
    });
    let session = agent.ready_session();
    let (state, key) = check(&agent, "disk_space");
    assert_eq!((state.as_str(), key.as_str()), ("ok", "disk_ok"));

    // Fill the partition to 3 % free, as a growing service's data would.
    let free = |dir: &std::path::Path| {
        let out = Command::new("df")
            .args(["--output=avail,size", "-B1"])
            .arg(dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text.lines().nth(1).unwrap().to_owned();
        let mut it = line.split_whitespace().map(|v| v.parse::<u64>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    };
    let (avail, size) = free(&fs.dir);
    let filler = fs.dir.join("data/filler.bin");
    ok(&Command::new("fallocate")
        .arg("-l")
        .arg((avail - size * 3 / 100).to_string())
        .arg(&filler)
        .output()
        .unwrap());
    let (state, key) = check(&agent, "disk_space");
    assert_eq!((state.as_str(), key.as_str()), ("critical", "disk_low"));
    let text = ok(&agent.cli(&["health"]));
    assert!(
        text.contains("Le disque de données est presque plein"),
        "{text}"
    );
    // The status and the dashboard carry it as an issue.
    let status: Value = serde_json::from_str(&ok(&agent.cli(&["status", "--json"]))).unwrap();
    assert!(
        status["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["key"] == "disk_low" && i["severity"] == "critical"),
        "{status}"
    );
    // Installs are refused, saying why.
    let out = agent.cli(&["app", "install", &site]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not enough free disk space"), "{said}");
    // The Health page shows it, in French.
    let html = session.page("/admin/health");
    assert!(
        html.contains(r#"id="check-disk_space" data-state="critical" data-key="disk_low""#),
        "{html}"
    );
    assert!(html.contains("Espace disque"), "{html}");
    // The guard's next round prunes unused images.
    wait_until(Duration::from_secs(90), "the disk guard to act", || {
        agent
            .log_text()
            .contains("pruning the images no service uses")
    })
    .unwrap();

    // Room again: the check and installs come back.
    std::fs::remove_file(&filler).unwrap();
    let (state, _) = check(&agent, "disk_space");
    assert_eq!(state, "ok");
    ok(&agent.cli(&["app", "install", &site, "--follow"]));
    ok(&agent.cli(&["app", "remove", &site]));
    drop(agent);
}

#[test]
fn a_container_killed_for_memory_is_shown_on_its_service() {
    let s = ServiceBox::start();
    let hog = s.id("hog");
    ok(&s.agent.cli(&["app", "install", &hog, "--follow"]));
    wait_check(&s.agent, "memory", "critical", "memory_oom", 60);
    let report = checks(&s.agent);
    let memory = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "memory")
        .unwrap()
        .clone();
    assert!(
        memory["what"]["fr"]
            .as_str()
            .unwrap()
            .contains(hog.as_str()),
        "{memory}"
    );
    assert!(
        memory["what"]["fr"]
            .as_str()
            .unwrap()
            .contains("faute de mémoire"),
        "{memory}"
    );
    // On the service itself: its status and its page.
    let status: Value =
        serde_json::from_str(&ok(&s.agent.cli(&["app", "status", &hog, "--json"]))).unwrap();
    let kills = status["incidents"]["oom_kills"].as_array().unwrap();
    assert!(
        kills
            .iter()
            .any(|k| k["container"] == format!("panier-{hog}-app")),
        "{status}"
    );
    let session = s.agent.login("camille", "un mot de passe solide");
    let html = session.page(&format!("/admin/apps/{hog}"));
    assert!(html.contains(r#"id="app-oom""#), "{html}");
    assert!(html.contains("faute de mémoire"), "{html}");
    ok(&s.agent.cli(&["app", "remove", &hog]));
}

#[test]
fn a_service_restarting_in_a_loop_is_critical() {
    let s = ServiceBox::start();
    let app = s.id("crashloop");
    ok(&s.agent.cli(&["app", "install", &app, "--follow"]));
    wait_check(&s.agent, "services", "critical", "service_restart_loop", 90);
    let text = ok(&s.agent.cli(&["health"]));
    assert!(text.contains("redémarrent sans cesse"), "{text}");
    assert!(text.contains(app.as_str()), "{text}");
    let status: Value =
        serde_json::from_str(&ok(&s.agent.cli(&["app", "status", &app, "--json"]))).unwrap();
    assert!(
        status["incidents"]["restarts"].as_array().unwrap().len() >= 3,
        "{status}"
    );
    // Stopped by the admin, it is no longer restarted (and no new restarts are counted).
    ok(&s.agent.cli(&["app", "stop", &app]));
    let before = status["incidents"]["restarts"].as_array().unwrap().len();
    std::thread::sleep(Duration::from_secs(8));
    let status: Value =
        serde_json::from_str(&ok(&s.agent.cli(&["app", "status", &app, "--json"]))).unwrap();
    assert!(
        status["incidents"]["restarts"].as_array().unwrap().len() <= before + 1,
        "{status}"
    );
}
