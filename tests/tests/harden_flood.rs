//! One visitor must not take the box down: from a LAN namespace, 1,100 slow connections
//! (headers never finished on the portal, TLS handshakes never begun on the HTTPS entry) to
//! an agent limited to 1024 file descriptors (systemd's default soft limit, which the unit
//! now raises). While they are held, the admin UI answers another LAN host, so does the
//! portal, and the local socket answers root; the agent logs the connections it refused.
//!
//! The agent's resident memory before, during and after the attack is printed (not judged:
//! figures belong to benchmarks; `tools/bench/flood.sh` runs this test to print them).

use panier_system_tests::fwnet::network;
use panier_system_tests::netns::within;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const SLOW: usize = 1100;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The HTTP status `curl -sk ARGS` gets, or 0 when nothing answered in 5 s (before the TLS
/// handshakes held by the attack time out, at 10 s). From namespace `ns` if given.
fn curl_status(ns: Option<&str>, args: &[&std::ffi::OsStr]) -> u16 {
    let mut cmd = Command::new(if ns.is_some() { "nsenter" } else { "curl" });
    if let Some(ns) = ns {
        cmd.arg(format!("--net=/var/run/netns/{ns}")).arg("curl");
    }
    let out = cmd
        .args([
            "-sk",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

fn status_from(ns: &str, url: &str) -> u16 {
    curl_status(Some(ns), &[url.as_ref()])
}

fn socket_status(agent: &Agent) -> u16 {
    curl_status(
        None,
        &[
            "--unix-socket".as_ref(),
            agent.socket.as_os_str(),
            "http://box/api/v1/status".as_ref(),
        ],
    )
}

#[test]
fn a_thousand_slow_connections_leave_the_admin_ui_and_the_socket_answering() {
    let ns = network("phfl", 21);
    let (box_ns, lan, out) = (ns.name("box"), ns.name("lan"), ns.name("out"));
    let agent = Agent::start_with(AgentOptions {
        config: Some("box_name = \"biblio\"\n".into()),
        netns: Some(box_ns),
        listen: Some("0.0.0.0:8443".into()),
        web_entry: true,
        nofile: Some(1024),
        ..Default::default()
    });
    let (admin, portal) = (
        "https://10.203.21.1:8443/api/v1/health",
        "http://10.203.21.1/",
    );
    assert_eq!(status_from(&out, admin), 200, "{}", agent.log_text());
    assert_eq!(socket_status(&agent), 200);
    let before = rss_kib(agent.pid());

    // The attack: slow headers on the portal, silent TLS on the HTTPS entry.
    let held: Vec<TcpStream> = within(&lan, || {
        let (http, https): (SocketAddr, SocketAddr) = (
            "10.203.21.1:80".parse().unwrap(),
            "10.203.21.1:8443".parse().unwrap(),
        );
        (0..SLOW)
            .filter_map(|i| {
                let to = if i % 10 == 9 { &https } else { &http };
                let mut s = TcpStream::connect_timeout(to, Duration::from_secs(2)).ok()?;
                if to == &http {
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: biblio.local\r\nX-Slow: ");
                }
                Some(s)
            })
            .collect()
    });
    assert!(
        held.len() >= SLOW / 2,
        "only {} connections opened",
        held.len()
    );
    std::thread::sleep(Duration::from_secs(1));
    let during = rss_kib(agent.pid());
    let fds = std::fs::read_dir(format!("/proc/{}/fd", agent.pid()))
        .map(|d| d.count())
        .unwrap_or(0);

    // Another LAN host still reaches the admin UI and the portal; root still has the socket.
    let admin_status = status_from(&out, admin);
    let portal_status = status_from(&out, portal);
    let socket = socket_status(&agent);
    let log = agent.log_text();
    assert_eq!(admin_status, 200, "the admin UI under attack:\n{log}");
    assert_eq!(portal_status, 200, "the portal under attack:\n{log}");
    assert_eq!(socket, 200, "the local socket under attack:\n{log}");
    assert!(
        log.contains("refused") && log.contains("connection(s)"),
        "the refused connections are logged:\n{log}"
    );

    drop(held);
    wait_until(
        Duration::from_secs(10),
        "the portal after the attack",
        || status_from(&out, portal) == 200,
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(agent.pid());
    println!(
        "agent memory (VmRSS): before {} MiB, during {SLOW} slow connections {} MiB ({fds} file descriptors open of 1024), after {} MiB",
        before / 1024,
        during / 1024,
        after / 1024
    );
}
