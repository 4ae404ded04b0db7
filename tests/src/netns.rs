//! Network namespaces for tests with real traffic: create them, join them with veth pairs,
//! run code inside one (on a thread that enters it: a thread's network namespace is its own,
//! and the processes it spawns inherit it), and remove them on drop.
//!
//! Addresses used by tests live only inside these namespaces (10.203.x.y), never routed
//! elsewhere.

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Runs `f` on a thread inside the network namespace `name`.
pub fn within<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/var/run/netns/{name}"))
                .unwrap_or_else(|e| panic!("network namespace {name}: {e}"));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("entering the network namespace (needs root)");
            f()
        })
        .join()
        .expect("the thread in the namespace panicked")
    })
}

/// Runs a command, failing with its stderr.
pub fn sh(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Network namespaces removed (with everything in them) on drop.
pub struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    /// Creates namespaces named `<prefix>-<name>` with loopback up.
    pub fn create(prefix: &str, names: &[&str]) -> Result<Namespaces> {
        let mut ns = Namespaces { names: Vec::new() };
        for n in names {
            let full = format!("{prefix}-{n}");
            let _ = Command::new("ip").args(["netns", "del", &full]).output();
            sh(&["ip", "netns", "add", &full])?;
            ns.names.push(full.clone());
            sh(&["ip", "-n", &full, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }

    pub fn name(&self, short: &str) -> String {
        self.names
            .iter()
            .find(|n| n.ends_with(&format!("-{short}")))
            .cloned()
            .unwrap_or_else(|| panic!("no namespace {short}"))
    }

    /// Joins `a` and `b` with a veth pair (`a_if` in `a` with `a_addr`, `b_if` in `b`).
    pub fn link(
        &self,
        a: &str,
        a_if: &str,
        a_addr: &str,
        b: &str,
        b_if: &str,
        b_addr: &str,
    ) -> Result<()> {
        let (a, b) = (self.name(a), self.name(b));
        sh(&[
            "ip", "-n", &a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b,
        ])?;
        sh(&["ip", "-n", &a, "addr", "add", a_addr, "dev", a_if])?;
        sh(&["ip", "-n", &b, "addr", "add", b_addr, "dev", b_if])?;
        sh(&["ip", "-n", &a, "link", "set", a_if, "up"])?;
        sh(&["ip", "-n", &b, "link", "set", b_if, "up"])?;
        Ok(())
    }

    /// `ip -n <ns> ARGS…`
    pub fn ip(&self, ns: &str, args: &[&str]) -> Result<String> {
        let name = self.name(ns);
        let mut full = vec!["ip", "-n", &name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Runs a command inside the namespace (`nsenter --net`, which leaves /sys alone).
    pub fn exec(&self, ns: &str, args: &[&str]) -> Result<String> {
        let net = format!("--net=/var/run/netns/{}", self.name(ns));
        let mut full = vec!["nsenter", &net];
        full.extend_from_slice(args);
        sh(&full)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Whether a TCP connection to `addr` opens from inside `ns` within `timeout`.
pub fn tcp_open(ns: &str, addr: &str, timeout: std::time::Duration) -> bool {
    let addr: std::net::SocketAddr = addr.parse().expect("an address:port");
    within(ns, || {
        std::net::TcpStream::connect_timeout(&addr, timeout).is_ok()
    })
}
