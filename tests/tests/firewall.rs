//! The firewall with real traffic: the real agent and a real dockerd inside a "box" network
//! namespace, a LAN client namespace that is also the router to an "outside" namespace.
//!
//! ```text
//!  outside 10.203.2.2 ── 10.203.2.1 lan (router, LAN client) 10.203.1.2 ── 10.203.1.1 box
//! ```
//! The box detects its LAN (10.203.1.0/24) from its interface; traffic from 10.203.2.2 is the
//! outside. Everything is removed on drop (namespaces, dockerd, containers).

use panier_system_tests::engine::busybox_image;
use panier_system_tests::fwnet::{Engine, Proc, docker, network, nft_box};
use panier_system_tests::netns::{Namespaces, tcp_open, within};
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::process::Command;
use std::time::{Duration, Instant};

const PROBE: Duration = Duration::from_millis(800);
/// The confirmation window the revert test gives its agent.
const WINDOW: Duration = Duration::from_secs(12);

fn table_present(ns: &Namespaces) -> bool {
    ns.exec("box", &["nft", "list", "table", "inet", "panier"])
        .is_ok()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn lan_only_by_default_and_the_policy_holds() {
    let ns = network("pfw1", 1);
    let (box_ns, lan, out) = (ns.name("box"), ns.name("lan"), ns.name("out"));
    let mut engine = Engine::start(&box_ns);
    let url = engine.url();
    busybox_image(
        &url,
        "panier-fw-httpd",
        &[("/var/www/index.html", "pad\n")],
        r#"["httpd","-f","-p","9000","-h","/var/www"]"#,
    )
    .unwrap();
    docker(
        &url,
        &[
            "run",
            "-d",
            "--name",
            "pad",
            "--restart",
            "always",
            "-l",
            "org.panier.app=pad",
            "-p",
            "9000:9000",
            "panier-fw-httpd",
        ],
    )
    .unwrap();
    // A stand-in for the portal on port 80 (the proxy is another domain).
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "portal\n").unwrap();
    let _portal = Proc(
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{box_ns}"))
            .args(["/bin/busybox", "httpd", "-f", "-p", "80", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap(),
    );

    // Without the firewall the outside reaches the published port: the topology works.
    wait_until(
        Duration::from_secs(20),
        "the container's port from the outside",
        || tcp_open(&out, "10.203.1.1:9000", PROBE),
    )
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the portal stand-in from the outside",
        || tcp_open(&out, "10.203.1.1:80", PROBE),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            ns.exec("box", &["ss", "-ltn"]).unwrap_or_default()
        )
    });

    let mut agent = Agent::start_with(AgentOptions {
        engine: Some(url.clone()),
        firewall: true,
        netns: Some(box_ns.clone()),
        listen: Some("0.0.0.0:8443".into()),
        ..Default::default()
    });
    assert!(table_present(&ns), "applied at start: {}", agent.log_text());

    // LAN: portal, admin, the service. Outside: nothing.
    assert!(tcp_open(&lan, "10.203.1.1:80", PROBE), "LAN → portal");
    assert!(tcp_open(&lan, "10.203.1.1:8443", PROBE), "LAN → admin UI");
    let health = within(&lan, || {
        ureq::get("http://10.203.1.1:8443/api/v1/health")
            .call()
            .is_ok()
    });
    assert!(health, "LAN → admin UI over HTTP");
    wait_until(
        Duration::from_secs(10),
        "the published port in the table",
        || nft_box(&ns, &["list", "table", "inet", "panier"]).contains("pad: set to LAN"),
    )
    .unwrap();
    assert!(
        tcp_open(&lan, "10.203.1.1:9000", PROBE),
        "LAN → service (DNAT to the container)"
    );
    for port in [80, 8443, 9000, 22] {
        assert!(
            !tcp_open(&out, &format!("10.203.1.1:{port}"), PROBE),
            "outside → {port} must be blocked"
        );
    }

    // Opening the service to the outside opens it, and only it.
    let explain = ok(agent.cli(&["firewall", "explain", "--lang", "en"]));
    assert!(
        explain.contains(
            "The service pad (ports 9000/tcp) is reachable from the local network 10.203.1.0/24"
        ),
        "{explain}"
    );
    ok(agent.cli(&["firewall", "set", "service", "pad", "outside"]));
    assert!(
        tcp_open(&out, "10.203.1.1:9000", PROBE),
        "outside → opened service"
    );
    assert!(
        !tcp_open(&out, "10.203.1.1:8443", PROBE),
        "the admin UI never opens to the outside"
    );
    let show = ok(agent.cli(&["firewall", "show"]));
    assert!(
        show.contains("pad: open to the outside") && show.contains("ct original proto-dst 9000"),
        "{show}"
    );

    // Back to LAN; an engine restart re-creates its chains and the policy still holds.
    ok(agent.cli(&["firewall", "set", "service", "pad", "lan"]));
    assert!(!tcp_open(&out, "10.203.1.1:9000", PROBE));
    engine.restart();
    wait_until(
        Duration::from_secs(30),
        "the container back after the engine restart",
        || tcp_open(&lan, "10.203.1.1:9000", PROBE),
    )
    .unwrap();
    assert!(
        !tcp_open(&out, "10.203.1.1:9000", PROBE),
        "outside still blocked after the engine re-created its chains"
    );

    // `nft flush ruleset` then `panier firewall reload`.
    nft_box(&ns, &["flush", "ruleset"]);
    let reload = ok(agent.cli(&["firewall", "reload"]));
    assert!(reload.contains("rules"), "{reload}");
    assert!(table_present(&ns));
    assert!(!tcp_open(&out, "10.203.1.1:8443", PROBE));
    assert!(tcp_open(&lan, "10.203.1.1:8443", PROBE));

    // Agent restart after the table was flushed while it was down: applied again at start.
    agent.kill9();
    nft_box(&ns, &["flush", "ruleset"]);
    assert!(!table_present(&ns));
    agent.restart();
    assert!(table_present(&ns), "applied again at start");
    assert!(!tcp_open(&out, "10.203.1.1:8443", PROBE));

    // The watch loop repairs a table deleted behind the agent's back.
    nft_box(&ns, &["delete", "table", "inet", "panier"]);
    wait_until(
        Duration::from_secs(15),
        "the watch loop to apply the table again",
        || table_present(&ns),
    )
    .unwrap();
    drop(agent);
}

/// Each service's fixed port on the proxy (the agent's own listener, for clients without mDNS)
/// follows the service's exposure like its published ports: from the LAN while the service is
/// "LAN", from the outside once opened, from nowhere once closed. The route is one of the
/// configuration file's (a web server in the box namespace), so no engine is needed here.
/// The portal's port is the HTTP entry's, LAN only.
#[test]
fn a_services_fixed_proxy_port_follows_its_exposure() {
    let ns = network("pfw3", 5);
    let (box_ns, lan, out) = (ns.name("box"), ns.name("lan"), ns.name("out"));
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "pad\n").unwrap();
    let _site = Proc(
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{box_ns}"))
            .args(["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:9100", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap(),
    );
    let agent = Agent::start_with(AgentOptions {
        firewall: true,
        netns: Some(box_ns.clone()),
        listen: Some("0.0.0.0:8443".into()),
        web_entry: true,
        config: Some("[[extra_routes]]\nname = \"pad\"\nupstream = \"127.0.0.1:9100\"\n".into()),
        ..Default::default()
    });
    let fixed = format!("10.203.5.1:{}", agent.service_port_base);
    let portal = format!("10.203.5.1:{}", agent.http_port);
    let table = || nft_box(&ns, &["list", "table", "inet", "panier"]);
    // The proxy's first table comes after the firewall's first application: the route change
    // wakes the firewall, which adds the fixed port.
    wait_until(
        Duration::from_secs(10),
        "the fixed port in the table",
        || table().contains("pad: its fixed port on the proxy, set to LAN"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", table(), agent.log_text()));
    assert!(
        table().contains(&format!(
            "tcp dport {} accept comment \"the portal\"",
            agent.http_port
        )),
        "the portal port is the HTTP entry's: {}",
        table()
    );

    let get = |ns: &str, addr: &str| {
        within(ns, || {
            panier_system_tests::services::http_get(&format!("http://{addr}/"))
        })
    };
    wait_until(
        Duration::from_secs(10),
        "the fixed port from the LAN",
        || get(&lan, &fixed).is_some_and(|b| b.trim() == "pad"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_text()));
    assert!(tcp_open(&lan, &portal, PROBE), "LAN → portal");
    assert!(
        !tcp_open(&out, &fixed, PROBE),
        "outside → fixed port of a LAN service must be blocked"
    );
    assert!(
        !tcp_open(&out, &portal, PROBE),
        "outside → portal must be blocked"
    );

    ok(agent.cli(&["firewall", "set", "service", "pad", "outside"]));
    assert_eq!(
        get(&out, &fixed).as_deref().map(str::trim),
        Some("pad"),
        "outside → fixed port of an opened service"
    );
    assert!(!tcp_open(&out, &portal, PROBE), "the portal stays LAN only");
    assert!(
        !tcp_open(&out, "10.203.5.1:8443", PROBE),
        "the admin UI never opens to the outside"
    );

    ok(agent.cli(&["firewall", "set", "service", "pad", "closed"]));
    assert!(
        !tcp_open(&lan, &fixed, PROBE),
        "LAN → fixed port of a closed service must be blocked"
    );
    assert!(!tcp_open(&out, &fixed, PROBE));
    assert!(
        tcp_open(&lan, &portal, PROBE),
        "the portal stays open to the LAN"
    );
}

/// A session against the admin UI from inside `ns`.
struct LanSession {
    ns: String,
    base: String,
    http: ureq::Agent,
    csrf: String,
}

impl LanSession {
    fn send(&self, method: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        within(&self.ns, || {
            let req = ureq::http::Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.base))
                .header("x-csrf-token", &self.csrf)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).unwrap())
                .unwrap();
            let mut r = self.http.run(req).unwrap();
            (
                r.status().as_u16(),
                r.body_mut().read_json().unwrap_or(serde_json::Value::Null),
            )
        })
    }
}

fn lan_session(agent: &Agent, ns: &str, base: &str) -> LanSession {
    let code = agent.setup_code();
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let csrf = within(ns, || {
        let setup = serde_json::json!({"code": code, "box_name": "biblio", "language": "fr", "username": "camille", "password": "un mot de passe solide"});
        assert_eq!(
            http.post(&format!("{base}/api/v1/setup"))
                .send_json(&setup)
                .unwrap()
                .status(),
            204
        );
        let mut r = http
            .post(&format!("{base}/api/v1/login"))
            .send_json(
                serde_json::json!({"username": "camille", "password": "un mot de passe solide"}),
            )
            .unwrap();
        let body: serde_json::Value = r.body_mut().read_json().unwrap();
        body["csrf_token"].as_str().unwrap().to_owned()
    });
    LanSession {
        ns: ns.to_owned(),
        base: base.to_owned(),
        http,
        csrf,
    }
}

/// The confirmation window (shortened to 8 s by `firewall_confirm_within_s`; 60 s on a box):
/// a change confirmed from a fresh connection stays; the next one, never confirmed, is
/// undone by itself, not before its deadline. A change that would cut the admin is refused; a batch nft
/// refuses is reported with nft's words (system level: the LAN override to a subnet nft
/// cannot hold is impossible by type, so nft's refusal is covered by the backend test in
/// `agent/tests/firewall_nft.rs`).
#[test]
fn unconfirmed_changes_are_undone_after_their_window() {
    let ns = network("pfw2", 3);
    let (box_ns, lan) = (ns.name("box"), ns.name("lan"));
    let agent = Agent::start_with(AgentOptions {
        firewall: true,
        netns: Some(box_ns.clone()),
        listen: Some("0.0.0.0:8443".into()),
        config: Some(format!(
            "firewall_confirm_within_s = {}\n",
            WINDOW.as_secs()
        )),
        ..Default::default()
    });
    let s = lan_session(&agent, &lan, "http://10.203.3.1:8443");

    let (status, body) = s.send(
        "PUT",
        "/api/v1/firewall/lan",
        serde_json::json!({"subnets": ["10.203.9.0/24"]}),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("firewall_would_cut_admin")),
        "{body}"
    );

    let (status, body) = s.send(
        "PUT",
        "/api/v1/firewall/ssh",
        serde_json::json!({"enabled": true}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["revert_at"].as_i64().is_some());
    // The answer closed its connection: this confirmation comes over a new one.
    let (status, body) = s.send("POST", "/api/v1/firewall/confirm", serde_json::json!({}));
    assert_eq!(status, 204, "{body}");

    let (status, body) = s.send(
        "PUT",
        "/api/v1/firewall/services/pad",
        serde_json::json!({"exposure": "closed"}),
    );
    assert_eq!(status, 200, "{body}");
    // Timed from the agent's own deadline (unix seconds): on a loaded machine the answer can
    // arrive seconds after the change was made.
    let revert_at = body["revert_at"]
        .as_i64()
        .expect("a network change has a deadline");
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let changed = Instant::now()
        - Duration::from_secs_f64(
            (unix_now() - (revert_at as f64 - WINDOW.as_secs_f64())).max(0.0),
        );
    let table = || nft_box(&ns, &["list", "table", "inet", "panier"]);
    assert!(table().contains("SSH, enabled by an admin"));
    let (_, o) = s.send("GET", "/api/v1/firewall", serde_json::Value::Null);
    assert_eq!(o["policy"]["exposures"]["pad"], "closed");

    // Not undone early…
    std::thread::sleep((WINDOW - Duration::from_secs(3)).saturating_sub(changed.elapsed()));
    let (_, o) = s.send("GET", "/api/v1/firewall", serde_json::Value::Null);
    assert_eq!(
        o["policy"]["exposures"]["pad"], "closed",
        "still pending 3 s before its deadline"
    );
    // …but at its deadline.
    wait_until(Duration::from_secs(10), "the automatic revert", || {
        let (_, o) = s.send("GET", "/api/v1/firewall", serde_json::Value::Null);
        o["policy"]["exposures"].get("pad").is_none() && o["revert_at"].is_null()
    })
    .unwrap();
    let elapsed = changed.elapsed();
    assert!(
        elapsed >= WINDOW - Duration::from_secs(1),
        "reverted after {elapsed:?}"
    );
    assert!(
        table().contains("SSH, enabled by an admin"),
        "the confirmed change stays"
    );
    let log = ok(agent.cli(&["log", "--json"]));
    assert!(
        log.contains("firewall_revert") && log.contains("firewall_confirm"),
        "{log}"
    );
}
