//! Services against a real container engine (Debian's dockerd, and podman's compatible
//! service): install → reachable → killed by hand → reconciled; uninstall keeping data and
//! reinstall; removal with data leaving nothing; a two-container service with a volume and a
//! generated secret; one job per service; kill -9 of the agent during an install.

use panier_system_tests::backup::ServiceBox;
use panier_system_tests::engine::{docker, engine_url};
use panier_system_tests::services::{
    container_ip, http_get, objects_of, podman_url, suffix, test_catalog,
};
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// An agent with the test catalog on `engine` ([`ServiceBox`] removes what its services left
/// on the shared engine when dropped), and what these tests ask of it.
struct Setup(ServiceBox);

impl std::ops::Deref for Setup {
    type Target = ServiceBox;
    fn deref(&self) -> &ServiceBox {
        &self.0
    }
}

impl std::ops::DerefMut for Setup {
    fn deref_mut(&mut self) -> &mut ServiceBox {
        &mut self.0
    }
}

impl Setup {
    fn new(engine: String) -> Setup {
        Setup(ServiceBox::start_on(engine))
    }

    fn volume(&self, app: &str, vol: &str) -> PathBuf {
        self.agent
            .data_dir
            .join("apps")
            .join(app)
            .join("volumes")
            .join(vol)
    }

    fn url(&self, container: &str, path: &str) -> String {
        let ip = container_ip(&self.engine, container)
            .unwrap_or_else(|| panic!("{container} has an address"));
        format!("http://{ip}:8080{path}")
    }

    fn wait_http(&self, container: &str, path: &str) -> String {
        let mut body = None;
        wait_until(
            Duration::from_secs(30),
            &format!("{container}{path} to answer"),
            || {
                body = container_ip(&self.engine, container)
                    .and_then(|ip| http_get(&format!("http://{ip}:8080{path}")));
                body.is_some()
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", self.agent.log_text()));
        body.unwrap()
    }
}

/// The lifecycle every engine must support.
fn lifecycle(engine: String) {
    let s = Setup::new(engine);
    let site = s.id("site");
    let web = format!("panier-{site}-web");

    // The catalog says what fits.
    let cards = json(&s.agent.cli(&["app", "catalog", "--json"]));
    assert!(
        cards
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == site.as_str() && c["fits"] == true),
        "{cards}"
    );

    // Install with live progress, then the page answers from the host through its network.
    let out = ok(&s.agent.cli(&["app", "install", &site, "--follow"]));
    assert!(out.contains("succeeded"), "{out}");
    assert_eq!(s.wait_http(&web, "/index.html").trim(), "hello");
    let status = json(&s.agent.cli(&["app", "status", &site, "--json"]));
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["url"], format!("https://{site}-biblio.local"));
    // Resource use, as the engine reports it (podman 4.3's one-shot stats may say nothing).
    let c = &status["containers"][0];
    if s.engine == engine_url() {
        assert!(
            c["memory_bytes"].as_u64().is_some_and(|b| b > 0),
            "{status}"
        );
        assert!(
            c["cpu_percent"]
                .as_f64()
                .is_some_and(|p| (0.0..=100.0).contains(&p)),
            "{status}"
        );
    }
    let out = ok(&s.agent.cli(&["app", "status", &site]));
    assert!(out.contains("processor"), "{out}");
    // The manifest's stop grace is the container's own stop timeout, so that the engine
    // stopping it at the box's shutdown gives it the same time as the agent does.
    assert_eq!(
        docker(
            &s.engine,
            &["inspect", "-f", "{{.Config.StopTimeout}}", &web]
        )
        .unwrap(),
        "1"
    );

    // Killed by hand → started again by the reconciler; removed by hand → recreated.
    docker(&s.engine, &["kill", &web]).unwrap();
    s.wait_http(&web, "/index.html");
    if s.engine == engine_url() {
        // A second network of the service's name (dockerd accepts it through its API, as an
        // older agent racing with itself made): the reconciler removes the extra one.
        let sock = s.engine.trim_start_matches("unix://");
        let labels = docker(
            &s.engine,
            &[
                "network",
                "inspect",
                "-f",
                "{{json .Labels}}",
                &format!("panier-{site}"),
            ],
        )
        .unwrap();
        let body = format!(r#"{{"Name":"panier-{site}","Labels":{labels}}}"#);
        let out = std::process::Command::new("curl")
            .args([
                "-fsS",
                "--unix-socket",
                sock,
                "-H",
                "content-type: application/json",
                "-d",
                &body,
                "http://engine/networks/create",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        docker(&s.engine, &["rm", "-f", &web]).unwrap();
        s.wait_http(&web, "/index.html");
        wait_until(Duration::from_secs(30), "one network left", || {
            objects_of(&s.engine, &site).1.len() == 1
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", s.agent.log_text()));
        assert!(
            s.agent
                .log_text()
                .contains(&format!("removing a second network named panier-{site}"))
        );
    }
    docker(&s.engine, &["rm", "-f", &web]).unwrap();
    s.wait_http(&web, "/index.html");

    // Stop / start are jobs; stop holds against the reconciler.
    ok(&s.agent.cli(&["app", "stop", &site, "--follow"]));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        docker(&s.engine, &["inspect", "-f", "{{.State.Running}}", &web]).unwrap(),
        "false"
    );
    ok(&s.agent.cli(&["app", "start", &site, "--follow"]));
    s.wait_http(&web, "/index.html");

    // A stopped service whose network is gone (as an unclean power-off can leave Docker
    // Engine, the box's engine; podman refuses to remove a network its containers use):
    // starting it makes the network again and the container with it.
    if s.engine == engine_url() {
        ok(&s.agent.cli(&["app", "stop", &site, "--follow"]));
        docker(&s.engine, &["network", "rm", &format!("panier-{site}")]).unwrap();
        let out = ok(&s.agent.cli(&["app", "start", &site, "--follow"]));
        assert!(out.contains("succeeded"), "{out}\n{}", s.agent.log_text());
        s.wait_http(&web, "/index.html");
        assert!(
            s.agent
                .log_text()
                .contains("recreating it from its definition")
        );
    }

    // Uninstall keeps the data; a reinstall finds it.
    std::fs::write(s.volume(&site, "www").join("marker.txt"), "kept").unwrap();
    ok(&s.agent.cli(&["app", "remove", &site, "--follow"]));
    let (containers, networks) = objects_of(&s.engine, &site);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "{containers:?} {networks:?}"
    );
    assert!(s.volume(&site, "www").join("marker.txt").exists());
    ok(&s.agent.cli(&["app", "install", &site, "--follow"]));
    assert_eq!(s.wait_http(&web, "/marker.txt"), "kept");

    // Removal with data deletion must be confirmed, and leaves nothing.
    let refused = s.agent.cli(&[
        "app",
        "remove",
        &site,
        "--delete-data",
        "--confirm",
        "wrong",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("confirm"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(&s.agent.cli(&[
        "app",
        "remove",
        &site,
        "--delete-data",
        "--confirm",
        &site,
        "--follow",
    ]));
    let (containers, networks) = objects_of(&s.engine, &site);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "{containers:?} {networks:?}"
    );
    assert!(
        !s.agent.data_dir.join("apps").join(&site).exists(),
        "the service's files are gone"
    );
    assert!(
        json(&s.agent.cli(&["app", "list", "--json"]))
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Two containers, a volume, a generated secret shared through the environment, a health
    // check (on engines that run them), and a setting.
    let notes = s.id("notes");
    let refused = s.agent.cli(&["app", "install", &notes]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("'title': is required"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(&s.agent.cli(&[
        "app",
        "install",
        &notes,
        "--set",
        "title=Médiathèque",
        "--follow",
    ]));
    let nweb = format!("panier-{notes}-web");
    let secret = s.wait_http(&nweb, "/secret.txt");
    assert_eq!(secret.trim().len(), 24);
    assert_eq!(
        http_get(&s.url(&nweb, "/from-db.txt")).unwrap(),
        secret,
        "web reached db by its alias"
    );
    assert_eq!(
        std::fs::read_to_string(s.volume(&notes, "db").join("password")).unwrap(),
        secret,
        "the database's volume is a host directory"
    );
    assert_eq!(
        http_get(&s.url(&nweb, "/title.txt")).unwrap().trim(),
        "Médiathèque"
    );
    let logs = ok(&s.agent.cli(&["app", "logs", &notes]));
    assert!(
        logs.is_empty() || logs.contains("web:") || logs.contains("db:"),
        "{logs}"
    );

    // One job per service: a removal while a restart runs is refused, with a clear message.
    ok(&s.agent.cli(&["app", "restart", &notes]));
    let busy = s.agent.cli(&["app", "remove", &notes]);
    let err = String::from_utf8_lossy(&busy.stderr);
    assert!(
        err.contains("already running") || busy.status.success(),
        "{err}"
    );
    wait_until(Duration::from_secs(60), "the restart to end", || {
        let st = json(&s.agent.cli(&["app", "status", &notes, "--json"]));
        st["job"]["state"] != "running"
    })
    .unwrap();
    if !busy.status.success() {
        ok(&s.agent.cli(&[
            "app",
            "remove",
            &notes,
            "--delete-data",
            "--confirm",
            &notes,
            "--follow",
        ]));
    } else {
        wait_until(Duration::from_secs(60), "the removal", || {
            json(&s.agent.cli(&["app", "list", "--json"]))
                .as_array()
                .unwrap()
                .is_empty()
        })
        .unwrap();
        ok(&s.agent.cli(&[
            "app",
            "remove",
            &notes,
            "--delete-data",
            "--confirm",
            &notes,
            "--follow",
        ]));
    }
    let (containers, networks) = objects_of(&s.engine, &notes);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "{containers:?} {networks:?}"
    );

    // Every action is in the audit log.
    let log = ok(&s.agent.cli(&["log", "--json"]));
    assert!(
        log.contains("app_install") && log.contains("app_remove_with_data"),
        "{log}"
    );
}

#[test]
fn lifecycle_on_dockerd() {
    lifecycle(engine_url());
}

#[test]
fn lifecycle_on_podman() {
    // PANIER_TEST_PODMAN_DIR: a service of one's own (e.g. a freshly started one) without
    // disturbing the shared one.
    let dir = std::env::var("PANIER_TEST_PODMAN_DIR")
        .unwrap_or_else(|_| "/run/panier-test/podman".into());
    let url = podman_url(&PathBuf::from(dir)).expect("podman's service starts");
    lifecycle(url);
}

/// A service whose container stops at once: the install fails, is undone without leaving
/// anything, and its job says why in English (CLI, API) and in French (the admin's page).
#[test]
fn a_failed_install_is_undone_and_says_why_in_both_languages() {
    let s = Setup::new(engine_url());
    let broken = s.id("broken");
    let out = s.agent.cli(&["app", "install", &broken, "--follow"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    for part in [
        "exit code 3",
        "missing configuration",
        "the install was undone",
    ] {
        assert!(said.contains(part), "{part:?} in {said}");
    }
    let (containers, networks) = objects_of(&s.engine, &broken);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "nothing left: {containers:?} {networks:?}"
    );
    assert!(
        !s.agent.data_dir.join("apps").join(&broken).exists(),
        "its fresh data directory is gone too"
    );

    let session = s.agent.login("camille", "un mot de passe solide");
    let (_, jobs) = session.get(&format!("/api/v1/jobs?app={broken}"));
    let job = &jobs[0];
    assert_eq!(
        (job["kind"].as_str(), job["state"].as_str()),
        (Some("install"), Some("failed")),
        "{jobs}"
    );
    let fr = job["message_fr"].as_str().unwrap();
    for part in [
        "n'a pas démarré",
        "code de sortie 3",
        "missing configuration",
        "l'installation a été annulée",
    ] {
        assert!(fr.contains(part), "{part:?} in {fr}");
    }
    // The page, in the box's language (French), shows the French message.
    let page = session
        .http
        .get(&format!("{}/admin/apps/{broken}", session.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        page.contains("code de sortie 3") && page.contains("installation a été annulée"),
        "{page}"
    );
}

#[test]
fn kill9_during_install_leaves_a_clean_state() {
    let mut s = Setup::new(engine_url());
    let slow = s.id("slow");
    let out = ok(&s.agent.cli(&["app", "install", &slow, "--json"]));
    let job: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(job["job"].as_i64().is_some());
    // Crash once the container exists, while the job waits for it to be healthy.
    wait_until(
        Duration::from_secs(30),
        "the container to be created",
        || !objects_of(&s.engine, &slow).0.is_empty(),
    )
    .unwrap();
    s.agent.kill9();
    s.agent.restart();
    wait_until(
        Duration::from_secs(60),
        "the interrupted install to be completed or undone",
        || {
            let list = json(&s.agent.cli(&["app", "list", "--json"]));
            match list
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == slow.as_str())
            {
                None => true,
                Some(a) => a["phase"] == "installed" && a["state"] == "running",
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", s.agent.log_text()));
    let list = json(&s.agent.cli(&["app", "list", "--json"]));
    let (containers, networks) = objects_of(&s.engine, &slow);
    if list.as_array().unwrap().is_empty() {
        assert!(
            containers.is_empty() && networks.is_empty(),
            "rolled back, nothing left: {containers:?} {networks:?}"
        );
    } else {
        assert_eq!(containers, [format!("panier-{slow}-app")]);
        assert_eq!(networks, [format!("panier-{slow}")]);
        let jobs: serde_json::Value =
            serde_json::from_str(&ok(&s.agent.cli(&["app", "status", &slow, "--json"]))).unwrap();
        assert_eq!(jobs["job"]["kind"], "resume_install", "{jobs}");
        assert_eq!(jobs["job"]["state"], "succeeded", "{jobs}");
    }
    let log = s.agent.log_text();
    assert!(log.contains("resuming an interrupted install"), "{log}");
}

#[test]
fn the_agent_starts_without_an_engine_and_says_so() {
    let catalog = tempfile::tempdir().unwrap();
    let suffix = suffix();
    test_catalog(catalog.path(), &suffix);
    let s = Agent::start_with(AgentOptions {
        engine: Some("unix:///nonexistent/docker.sock".into()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        ..Default::default()
    });
    s.setup("biblio", "camille", "un mot de passe solide");
    let id = format!("notes{suffix}"); // the test service with a `title` setting
    let mut out = s.cli(&["app", "install", &id, "--set", "title=x"]);
    for _ in 0..50 {
        if String::from_utf8_lossy(&out.stderr).contains("not reachable") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        out = s.cli(&["app", "install", &id, "--set", "title=x"]);
    }
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not reachable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn catalog_check_passes_on_the_real_catalog() {
    let root = panier_system_tests::workspace_root();
    let out = std::process::Command::new(panier_system_tests::panier_bin())
        .args(["catalog", "check"])
        .arg(root.join("services"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
