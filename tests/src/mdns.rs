//! A real mDNS client in a network namespace: Debian's avahi-daemon, with the tools of
//! avahi-utils (`avahi-resolve`, `avahi-publish`) and the system resolver through
//! libnss-mdns, as a laptop on the library's network would have them.
//!
//! Isolation from the test machine: avahi-daemon runs inside the namespace, in a mount
//! namespace of its own with a tmpfs on `/run` (its pid file and the socket nss-mdns talks
//! to are fixed paths there), and on a private D-Bus "system" bus (a `dbus-daemon` with its
//! own configuration and socket, named to the avahi programs by `DBUS_SYSTEM_BUS_ADDRESS`).
//! So it works whether or not the machine runs its own avahi or system bus, and never touches
//! them. [`Avahi::exec`] runs a command in that mount and network namespace: its
//! `getaddrinfo` then resolves `.local` names through nss-mdns and this avahi-daemon.

use anyhow::{Context, Result, bail};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=@SOCKET@</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;

/// avahi-daemon (and its private bus) running in a network namespace; stopped on drop.
pub struct Avahi {
    netns: String,
    dir: tempfile::TempDir,
    bus: Child,
    daemon: Child,
    publishers: Vec<Child>,
}

impl Avahi {
    /// Starts avahi-daemon in namespace `netns` on `interface` only.
    pub fn start(netns: &str, interface: &str) -> Result<Avahi> {
        let dir = tempfile::Builder::new().prefix("panier-avahi-").tempdir()?;
        let socket = dir.path().join("bus.sock");
        let bus_conf = dir.path().join("bus.conf");
        std::fs::write(
            &bus_conf,
            BUS_CONF.replace("@SOCKET@", &socket.display().to_string()),
        )?;
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", bus_conf.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("dbus.log"),
            )?))
            .spawn()
            .context("starting dbus-daemon (package dbus)")?;
        crate::wait_until(Duration::from_secs(5), "the private bus", || {
            socket.exists()
        })?;
        let conf = dir.path().join("avahi-daemon.conf");
        std::fs::write(
            &conf,
            format!(
                "[server]\nhost-name=client\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces={interface}\nenable-dbus=yes\n\
                 [wide-area]\nenable-wide-area=no\n[publish]\npublish-addresses=no\npublish-hinfo=no\npublish-workstation=no\n"
            ),
        )?;
        let script = format!(
            "mount -t tmpfs tmpfs /run && exec avahi-daemon -f {} --no-drop-root --no-chroot --no-rlimits",
            conf.display()
        );
        let avahi = Avahi {
            netns: netns.to_owned(),
            bus,
            daemon: Command::new("nsenter")
                .arg(format!("--net=/var/run/netns/{netns}"))
                .args([
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    &script,
                ])
                .env(
                    "DBUS_SYSTEM_BUS_ADDRESS",
                    format!("unix:path={}", socket.display()),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(
                    dir.path().join("avahi.log"),
                )?))
                .spawn()
                .context("starting avahi-daemon (package avahi-daemon)")?,
            dir,
            publishers: Vec::new(),
        };
        let ready = crate::wait_until(
            Duration::from_secs(10),
            "avahi-daemon on the private bus",
            || {
                avahi
                    .tool("avahi-browse", &["--all", "--terminate", "--no-db-lookup"])
                    .is_ok_and(|o| o.status.success())
            },
        );
        if let Err(e) = ready {
            bail!("{e}: {}", avahi.log());
        }
        Ok(avahi)
    }

    fn bus_address(&self) -> String {
        format!("unix:path={}", self.dir.path().join("bus.sock").display())
    }

    /// What avahi-daemon wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("avahi.log")).unwrap_or_default()
    }

    /// Runs an avahi-utils program in the namespace, on the private bus (10 s at most).
    pub fn tool(&self, program: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("timeout")
            .arg("10")
            .arg("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg(program)
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus_address())
            .output()
    }

    /// `avahi-resolve -4 -n NAME`: the IPv4 address announced for `name`, if any.
    pub fn resolve(&self, name: &str) -> Option<IpAddr> {
        let out = self.tool("avahi-resolve", &["-4", "-n", name]).ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.split_whitespace().nth(1))
            .and_then(|a| a.parse().ok())
    }

    /// Announces `name` → `address` from this client (`avahi-publish -a -R`), as another
    /// device using the name would; kept until drop.
    pub fn publish_address(&mut self, name: &str, address: &str) -> Result<()> {
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .args(["avahi-publish", "-a", "-R", name, address])
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus_address())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        self.publishers.push(child);
        crate::wait_until(
            Duration::from_secs(10),
            &format!("{name} to be established"),
            || self.resolve(name).is_some_and(|a| a.to_string() == address),
        )
    }

    /// Runs a program in avahi's mount and network namespaces, where the system resolver
    /// answers `.local` names through nss-mdns.
    pub fn exec(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("nsenter")
            .arg("--target")
            .arg(self.daemon.id().to_string())
            .args(["--mount", "--net"])
            .args(args)
            .output()
    }
}

impl Drop for Avahi {
    fn drop(&mut self) {
        for c in self
            .publishers
            .iter_mut()
            .chain([&mut self.daemon, &mut self.bus])
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
