//! The relay, with real components in network namespaces: the box behind a NAT router that
//! drops everything inbound, a relay with a public address running only WireGuard
//! (`wg-quick` over `wireguard-go`) and the nftables DNAT the box printed for it, an outside
//! client, and pebble + knot for a trusted certificate obtained by HTTP-01 *through* the
//! relay.
//!
//! ```text
//!  box 10.203.64.1 ── 10.203.64.2 home (NAT, drops inbound) 10.203.65.2 ── 10.203.65.1 inet
//!  inet 10.203.66.1 (pebble, knot) ── 10.203.66.2 relay      tunnel 10.203.69.1 ↔ box 10.203.69.2
//!  inet 10.203.67.1 ── 10.203.67.2 client
//! ```

use panier_system_tests::acme::{AcmeWorld, ZONE, cli_ok, web_service};
use panier_system_tests::netns::{Namespaces, tcp_open};
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RELAY_IP: &str = "10.203.66.2";
const CLIENT_IP: &str = "10.203.67.2";

/// One topology at a time: the tests share its namespaces' names, addresses and the
/// WireGuard sockets in /var/run/wireguard.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn topology() -> Namespaces {
    let ns = Namespaces::create(
        &format!("rly{}", std::process::id()),
        &["box", "home", "inet", "relay", "client"],
    )
    .unwrap();
    ns.link(
        "box",
        "eth0",
        "10.203.64.1/24",
        "home",
        "lan0",
        "10.203.64.2/24",
    )
    .unwrap();
    ns.link(
        "home",
        "wan0",
        "10.203.65.2/24",
        "inet",
        "h0",
        "10.203.65.1/24",
    )
    .unwrap();
    ns.link(
        "relay",
        "eth0",
        "10.203.66.2/24",
        "inet",
        "r0",
        "10.203.66.1/24",
    )
    .unwrap();
    ns.link(
        "client",
        "eth0",
        "10.203.67.2/24",
        "inet",
        "c0",
        "10.203.67.1/24",
    )
    .unwrap();
    for (n, via) in [
        ("box", "10.203.64.2"),
        ("home", "10.203.65.1"),
        ("relay", "10.203.66.1"),
        ("client", "10.203.67.1"),
    ] {
        ns.ip(n, &["route", "add", "default", "via", via]).unwrap();
    }
    for n in ["home", "inet"] {
        ns.exec(n, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .unwrap();
    }
    // The building's router: source NAT out, nothing new in.
    let router = "table inet home_router {\n\
        chain postrouting { type nat hook postrouting priority srcnat; oifname \"wan0\" masquerade; }\n\
        chain forward { type filter hook forward priority filter; policy drop; ct state established,related accept; iifname \"lan0\" accept; }\n\
        chain input { type filter hook input priority filter; policy accept; iifname \"wan0\" ct state new drop; }\n}\n";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), router).unwrap();
    ns.exec("home", &["nft", "-f", file.path().to_str().unwrap()])
        .unwrap();
    ns
}

/// Removes both ends of the tunnel before the namespaces go: `wireguard-go` exits when its
/// interface is deleted, but outlives a deleted namespace (and would keep its socket in
/// /var/run/wireguard, which namespaces share).
struct Tunnels<'a>(&'a Namespaces);

impl Drop for Tunnels<'_> {
    fn drop(&mut self) {
        let _ = self.0.ip("box", &["link", "del", "panier0"]);
        let _ = self.0.ip("relay", &["link", "del", "panier"]);
        let _ = wait_until(Duration::from_secs(5), "wireguard-go to exit", || {
            !Path::new("/var/run/wireguard/panier.sock").exists()
                && !Path::new("/var/run/wireguard/panier0.sock").exists()
        });
    }
}

fn json(agent: &Agent, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&cli_ok(agent, args)).unwrap()
}

/// The files `panier relay server-config` printed, by path.
fn files(config: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in config.lines() {
        if let Some(path) = line.strip_prefix("# ==> ") {
            out.push((path.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The relay from the box's own files: wg-quick (falling back to wireguard-go) and nft.
fn relay_up(ns: &Namespaces, dir: &Path, config: &str) {
    for (path, body) in files(config) {
        let name = Path::new(&path)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = body.replace(
            "/etc/wireguard/panier.key",
            dir.join("panier.key").to_str().unwrap(),
        );
        std::fs::write(dir.join(&name), body).unwrap();
    }
    ns.exec(
        "relay",
        &[
            "sysctl",
            "-q",
            "-p",
            dir.join("90-panier-relay.conf").to_str().unwrap(),
        ],
    )
    .unwrap();
    ns.exec(
        "relay",
        &["nft", "-f", dir.join("panier-relay.nft").to_str().unwrap()],
    )
    .unwrap();
    wg_quick(ns, dir, "up");
}

fn wg_quick(ns: &Namespaces, dir: &Path, action: &str) {
    ns.exec(
        "relay",
        &[
            "wg-quick",
            action,
            dir.join("panier.conf").to_str().unwrap(),
        ],
    )
    .unwrap_or_else(|e| panic!("wg-quick {action}: {e}"));
}

/// The box joins the relay, whose key stays on the relay (the box gets only its public
/// half), and the relay is set up from the files the box printed; waits for the tunnel.
fn join_relay(ns: &Namespaces, agent: &Agent, dir: &Path) {
    // The relay's key stays on the relay; the box gets only its public half.
    let key = ns.exec("relay", &["wg", "genkey"]).unwrap();
    std::fs::write(dir.join("panier.key"), key.trim()).unwrap();
    let public = Command::new("wg")
        .arg("pubkey")
        .stdin(std::fs::File::open(dir.join("panier.key")).unwrap())
        .output()
        .unwrap();
    let relay_key = String::from_utf8(public.stdout).unwrap().trim().to_owned();
    let joined = json(
        agent,
        &[
            "relay",
            "join",
            "--endpoint",
            &format!("{RELAY_IP}:51820"),
            "--relay-key",
            &relay_key,
            "--box-address",
            "10.203.69.2/24",
            "--relay-address",
            "10.203.69.1",
            "--json",
        ],
    );
    let config = cli_ok(agent, &["relay", "server-config"]);
    assert!(config.contains(joined["box_public_key"].as_str().unwrap()));
    assert!(!config.contains("masquerade"));
    relay_up(ns, dir, &config);

    let mut status = serde_json::Value::Null;
    wait_until(Duration::from_secs(60), "the tunnel", || {
        status = json(agent, &["relay", "status", "--json"]);
        status["relay_answers"] == true && status["latest_handshake"].is_i64()
    })
    .unwrap_or_else(|e| panic!("{e}: {status:#}\n{}", agent.log_text()));
}

/// curl from the client, verifying against `root`, for `host` at the relay's address.
fn visit(ns: &Namespaces, root: &Path, host: &str, path: &str) -> anyhow::Result<String> {
    ns.exec(
        "client",
        &[
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            root.to_str().unwrap(),
            "--resolve",
            &format!("{host}:443:{RELAY_IP}"),
            &format!("https://{host}{path}"),
        ],
    )
}

/// The status code and body of `url` asked from `from` for the name `host` at `ip` (no
/// certificate check: what matters is what answers).
fn answer(ns: &Namespaces, from: &str, url: &str, host: &str, ip: &str) -> (String, String) {
    let port = if url.starts_with("https") { 443 } else { 80 };
    let out = ns
        .exec(
            from,
            &[
                "curl",
                "-sk",
                "--max-time",
                "5",
                "-w",
                "\n%{http_code}",
                "--resolve",
                &format!("{host}:{port}:{ip}"),
                url,
            ],
        )
        .unwrap_or_default();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (code.trim().to_owned(), body.to_owned())
}

#[test]
fn outside_visitors_reach_open_services_through_the_relay_with_a_trusted_certificate_and_nothing_else()
 {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let ns = topology();
    let _tunnels = Tunnels(&ns);
    let acme = AcmeWorld::start(
        &ns,
        "inet",
        "10.203.66.1",
        RELAY_IP,
        Duration::from_secs(3600),
    );
    let (_pad, pad_port, _p) = web_service(&ns, "box", "pad");
    let (_wiki, wiki_port, _w) = web_service(&ns, "box", "wiki");
    let agent = Agent::start_with(AgentOptions {
        netns: Some(ns.name("box")),
        web_entry: true,
        firewall: true,
        engine: Some("unix:///nonexistent/panier-relay-test.sock".into()),
        listen: Some("0.0.0.0:443".into()),
        config: Some(format!(
            "acme_root = \"{}\"\n\
             [[extra_routes]]\nname = \"pad\"\nupstream = \"127.0.0.1:{pad_port}\"\n\
             [[extra_routes]]\nname = \"wiki\"\nupstream = \"127.0.0.1:{wiki_port}\"\n",
            acme.https_root.display()
        )),
        ..Default::default()
    });
    // pad is opened to the outside; wiki stays on the LAN (the default).
    cli_ok(&agent, &["firewall", "set", "service", "pad", "outside"]);
    cli_ok(
        &agent,
        &[
            "reach",
            "acme",
            "--directory",
            &acme.directory,
            "--challenge",
            "http-01",
        ],
    );
    cli_ok(&agent, &["reach", "domain", "set", ZONE]);

    let dir = tempfile::tempdir().unwrap();
    join_relay(&ns, &agent, dir.path());
    // The box's firewall accepts the web ports on the tunnel only.
    let table = ns
        .exec("box", &["nft", "list", "table", "inet", "panier"])
        .unwrap();
    assert!(
        table.contains("iifname \"panier0\" tcp dport 443 accept"),
        "{table}"
    );

    // A certificate by HTTP-01, validated through the relay.
    let mut reach = serde_json::Value::Null;
    wait_until(
        Duration::from_secs(90),
        "a certificate through the relay",
        || {
            reach = json(&agent, &["reach", "status", "--json"]);
            reach["certificate"].is_object()
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {reach:#}\n{}\n{}",
            agent.log_text(),
            acme.pebble_log()
        )
    });
    let root = acme.issuing_root(&ns, "inet");
    let host = format!("pad.{ZONE}");
    let page = visit(&ns, &root, &host, "/").unwrap();
    assert!(page.contains("hello from pad"), "{page}");
    // The service sees the visitor's own address, not the relay's.
    let env = visit(&ns, &root, &host, "/cgi-bin/env.sh").unwrap();
    assert!(env.contains(&format!("for={CLIENT_IP}")), "{env}");

    // A LAN-only service, the admin UI and the box's own pages are not served outside.
    let wiki = visit(&ns, &root, &format!("wiki.{ZONE}"), "/").unwrap();
    assert!(
        !wiki.contains("hello from wiki") && wiki.contains("Rien de public"),
        "{wiki}"
    );
    for (h, path) in [
        (format!("admin.{ZONE}"), "/admin/login"),
        (RELAY_IP.to_owned(), "/admin/login"),
        (RELAY_IP.to_owned(), "/"),
        (ZONE.to_owned(), "/"),
    ] {
        let (code, body) = answer(&ns, "client", &format!("https://{h}{path}"), &h, RELAY_IP);
        assert!(
            code == "404" && body.contains("Rien de public"),
            "{h}{path}: {code} {body}"
        );
        let (code, body) = answer(&ns, "client", &format!("http://{h}{path}"), &h, RELAY_IP);
        assert!(
            code == "404" && body.contains("Rien de public"),
            "http {h}{path}: {code} {body}"
        );
    }
    // Nothing reaches the box around the relay (the building's router drops inbound).
    assert!(!tcp_open(
        &ns.name("client"),
        "10.203.65.2:443",
        Duration::from_millis(800)
    ));
    assert!(!tcp_open(
        &ns.name("client"),
        "10.203.64.1:443",
        Duration::from_millis(800)
    ));
    // From the LAN, the admin UI answers as before (setup first).
    let (code, _) = answer(
        &ns,
        "home",
        "https://10.203.64.1/admin/login",
        "10.203.64.1",
        "10.203.64.1",
    );
    assert!(code == "200" || code.starts_with('3'), "{code}");
    let (code, body) = answer(
        &ns,
        "home",
        "https://10.203.64.1/admin/setup",
        "10.203.64.1",
        "10.203.64.1",
    );
    assert!(code == "200" && body.contains("csrf"), "{code} {body}");

    // The relay restarts: the tunnel comes back by itself.
    wg_quick(&ns, dir.path(), "down");
    assert!(visit(&ns, &root, &host, "/").is_err());
    wg_quick(&ns, dir.path(), "up");
    let restarted = Instant::now();
    wait_until(
        Duration::from_secs(90),
        "the tunnel after the relay restarted",
        || visit(&ns, &root, &host, "/").is_ok_and(|p| p.contains("hello from pad")),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            json(&agent, &["relay", "status", "--json"]),
            agent.log_text()
        )
    });
    eprintln!(
        "the tunnel came back {:?} after the relay restarted",
        restarted.elapsed()
    );
}

/// Requests per second and p99 latency of a small page through the relay, against the same
/// page from the LAN, in the same run, and the agent's memory (`tools/bench/reach.sh`: figures,
/// not a pass/fail).
#[test]
#[ignore = "a benchmark: tools/bench/reach.sh"]
fn bench_a_small_page_through_the_relay_against_the_lan() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let ns = topology();
    let _tunnels = Tunnels(&ns);
    let (_pad, pad_port, _p) = web_service(&ns, "box", "pad");
    let agent = Agent::start_with(AgentOptions {
        netns: Some(ns.name("box")),
        web_entry: true,
        firewall: true,
        engine: Some("unix:///nonexistent/panier-relay-bench.sock".into()),
        listen: Some("0.0.0.0:443".into()),
        config: Some(format!(
            "[[extra_routes]]\nname = \"pad\"\nupstream = \"127.0.0.1:{pad_port}\"\n"
        )),
        ..Default::default()
    });
    cli_ok(&agent, &["firewall", "set", "service", "pad", "outside"]);
    cli_ok(&agent, &["reach", "domain", "set", ZONE]);
    let dir = tempfile::tempdir().unwrap();
    join_relay(&ns, &agent, dir.path());
    let duration = std::env::var("BENCH_DURATION").unwrap_or_else(|_| "10s".into());
    let host = format!("Host: pad.{ZONE}");
    let mut p99 = Vec::new();
    for (label, from, url) in [
        ("LAN", "home", "http://10.203.64.1/".to_owned()),
        ("relay", "client", format!("http://{RELAY_IP}/")),
    ] {
        let out = ns
            .exec(
                from,
                &[
                    "wrk",
                    "-t2",
                    "-c16",
                    "-d",
                    &duration,
                    "--latency",
                    "-H",
                    &host,
                    &url,
                ],
            )
            .unwrap();
        let rps = out
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .unwrap_or("?")
            .trim()
            .to_owned();
        let latency = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("99%"))
            .unwrap_or("?")
            .trim()
            .to_owned();
        println!("{label:>5}: {rps} requests/s, p99 {latency}");
        p99.push(latency);
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", agent.pid())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("VmRSS: ?");
    println!("agent memory: {}", rss.trim_start_matches("VmRSS:").trim());
}
