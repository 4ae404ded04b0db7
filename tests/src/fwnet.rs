//! The firewall tests' world: a "box" network namespace with its own dockerd, a LAN client
//! namespace that is also the router to an "outside" namespace.
//!
//! ```text
//!  outside 10.203.n+1.2 ── 10.203.n+1.1 lan (router, LAN client) 10.203.n.2 ── 10.203.n.1 box
//! ```
//! Everything is removed on drop (namespaces, dockerd, containers).

use crate::netns::{Namespaces, sh};
use crate::wait_until;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// box — lan — outside, with routes, for subnet block `n` (10.203.n.0/24 and 10.203.n+1.0/24).
pub fn network(prefix: &str, n: u8) -> Namespaces {
    // The process id in the names: two runs at once (worktrees, CI) must not delete each
    // other's namespaces (`Namespaces::create` removes a namespace of the same name first).
    let ns = Namespaces::create(
        &format!("{prefix}{}", std::process::id()),
        &["box", "lan", "out"],
    )
    .unwrap();
    let (lan, out) = (format!("10.203.{n}"), format!("10.203.{}", n + 1));
    ns.link(
        "box",
        "eth0",
        &format!("{lan}.1/24"),
        "lan",
        "tobox",
        &format!("{lan}.2/24"),
    )
    .unwrap();
    ns.link(
        "lan",
        "toout",
        &format!("{out}.1/24"),
        "out",
        "eth0",
        &format!("{out}.2/24"),
    )
    .unwrap();
    ns.ip(
        "box",
        &["route", "add", "default", "via", &format!("{lan}.2")],
    )
    .unwrap();
    ns.ip(
        "out",
        &["route", "add", "default", "via", &format!("{out}.1")],
    )
    .unwrap();
    ns.exec("lan", &["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .unwrap();
    ns
}

/// A process killed (and waited for) on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A dockerd of its own inside the box namespace (entered with nsenter, per FINDINGS).
pub struct Engine {
    proc: Option<Proc>,
    dir: tempfile::TempDir,
    box_ns: String,
}

impl Engine {
    pub fn start(box_ns: &str) -> Engine {
        std::fs::create_dir_all("/var/lib/panier-test").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("fw-engine-")
            .tempdir_in("/var/lib/panier-test")
            .unwrap();
        let mut e = Engine {
            proc: None,
            dir,
            box_ns: box_ns.to_owned(),
        };
        e.launch();
        e
    }

    pub fn url(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.path().display())
    }

    fn launch(&mut self) {
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.box_ns))
            .arg("dockerd")
            .arg("--host")
            .arg(self.url())
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.proc = Some(Proc(child));
        let url = self.url();
        wait_until(
            Duration::from_secs(60),
            "dockerd in the box namespace",
            || docker(&url, &["version"]).is_ok(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {}",
                std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default()
            )
        });
    }

    pub fn restart(&mut self) {
        self.proc = None;
        self.launch();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.proc.is_some() {
            let url = self.url();
            if let Ok(ids) = docker(&url, &["ps", "-aq"]) {
                for id in ids.split_whitespace() {
                    let _ = docker(&url, &["rm", "-f", id]);
                }
            }
        }
        self.proc = None;
    }
}

pub fn docker(url: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut full = vec!["docker", "-H", url];
    full.extend_from_slice(args);
    sh(&full)
}

pub fn nft_box(ns: &Namespaces, args: &[&str]) -> String {
    let mut full = vec!["nft"];
    full.extend_from_slice(args);
    ns.exec("box", &full).unwrap()
}
