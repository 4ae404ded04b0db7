//! The public world of the reach tests: Let's Encrypt's test authority (Debian's `pebble`) and
//! an authoritative DNS server taking RFC 2136 updates signed with TSIG (Debian's `knot`),
//! both in one network namespace, with the zone `example.test` whose every name points at the
//! box.
//!
//! pebble gets its own HTTPS certificate from a small authority made here with openssl (the
//! agent trusts it through `acme_root`), validates HTTP-01 on port 80 of the address the zone
//! gives, and asks knot for every name (`-dnsserver`). Its root (a new one at each start) is
//! read from its management API, as a client would be given it. Everything is killed on drop.

use crate::fwnet::Proc;
use crate::netns::{Namespaces, sh};
use crate::{Agent, free_port, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const ZONE: &str = "example.test";
pub const TSIG_NAME: &str = "panier-key";

/// `dig +short` at `server` for `name`'s `rtype` records, from the namespace `short`.
pub fn dig(net: &Namespaces, short: &str, server: &str, name: &str, rtype: &str) -> String {
    net.exec(
        short,
        &[
            "dig",
            "+short",
            "+time=1",
            "+tries=1",
            &format!("@{server}"),
            name,
            rtype,
        ],
    )
    .unwrap_or_default()
}

/// pebble and knot, running in the namespace `ns` at `addr`.
pub struct AcmeWorld {
    pub dir: tempfile::TempDir,
    pub addr: String,
    pub tsig_secret: String,
    /// The directory URL the box is given.
    pub directory: String,
    /// The authority pebble's HTTPS certificate chains to (the box's `acme_root`).
    pub https_root: PathBuf,
    _knot: Proc,
    _pebble: Proc,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl AcmeWorld {
    /// Starts knot then pebble in `ns` (short name `short` in `net`), listening on `addr`;
    /// every name of the zone resolves to `box_addr`. `validity` is the lifetime of the
    /// certificates pebble issues.
    pub fn start(
        net: &Namespaces,
        short: &str,
        addr: &str,
        box_addr: &str,
        validity: Duration,
    ) -> AcmeWorld {
        let dir = tempfile::Builder::new()
            .prefix("reach-acme-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let ns = net.name(short);
        // pebble's HTTPS: a CA and a leaf for its address.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=reach test CA",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "pebble.key",
                "-out",
                "pebble.csr",
                "-subj",
                "/CN=pebble",
            ],
        );
        std::fs::write(
            d.join("ext.cnf"),
            format!(
                "subjectAltName=IP:{addr}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "pebble.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "pebble.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        let tsig_secret = sh(&["openssl", "rand", "-base64", "32"])
            .unwrap()
            .trim()
            .to_owned();

        // knot: the zone, an ACL letting the TSIG key update it.
        std::fs::create_dir_all(d.join("knot")).unwrap();
        std::fs::write(
            d.join("knot").join(format!("{ZONE}.zone")),
            format!(
                "$ORIGIN {ZONE}.\n$TTL 5\n@ SOA ns.{ZONE}. admin.{ZONE}. 1 3600 600 86400 5\n@ NS ns\nns A {addr}\n* A {box_addr}\n"
            ),
        )
        .unwrap();
        let knot_conf = d.join("knot.conf");
        let kd = d.join("knot");
        std::fs::write(
            &knot_conf,
            format!(
                "server:\n  rundir: \"{kd}\"\n  user: root:root\n  listen: {addr}@53\n\
                 database:\n  storage: \"{kd}\"\n\
                 log:\n  - target: stderr\n    any: info\n\
                 key:\n  - id: {TSIG_NAME}\n    algorithm: hmac-sha256\n    secret: {tsig_secret}\n\
                 acl:\n  - id: box\n    key: {TSIG_NAME}\n    action: update\n\
                 template:\n  - id: default\n    storage: \"{kd}\"\n    file: \"%s.zone\"\n\
                 zone:\n  - domain: {ZONE}\n    acl: box\n",
                kd = kd.display()
            ),
        )
        .unwrap();
        let log = |name: &str| {
            let f = std::fs::File::create(d.join(name)).unwrap();
            (Stdio::from(f.try_clone().unwrap()), Stdio::from(f))
        };
        let (o, e) = log("knot.log");
        let knot = Proc(
            Command::new("nsenter")
                .arg(format!("--net=/var/run/netns/{ns}"))
                .args(["knotd", "-c"])
                .arg(&knot_conf)
                .stdout(o)
                .stderr(e)
                .spawn()
                .unwrap(),
        );
        wait_until(Duration::from_secs(15), "knot answering", || {
            dig(net, short, addr, &format!("ns.{ZONE}"), "A").trim() == addr
        })
        .unwrap_or_else(|err| {
            panic!(
                "{err}: {}",
                std::fs::read_to_string(d.join("knot.log")).unwrap_or_default()
            )
        });

        // pebble: HTTP-01 on port 80, names through knot.
        let pebble_conf = d.join("pebble.json");
        std::fs::write(
            &pebble_conf,
            serde_json::json!({"pebble": {
                "listenAddress": format!("{addr}:14000"),
                "managementListenAddress": format!("{addr}:15000"),
                "certificate": d.join("pebble.pem"),
                "privateKey": d.join("pebble.key"),
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": validity.as_secs(),
            }})
            .to_string(),
        )
        .unwrap();
        let (o, e) = log("pebble.log");
        let pebble = Proc(
            Command::new("nsenter")
                .arg(format!("--net=/var/run/netns/{ns}"))
                .args(["pebble", "-config"])
                .arg(&pebble_conf)
                .args(["-dnsserver", &format!("{addr}:53")])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0")
                .stdout(o)
                .stderr(e)
                .spawn()
                .unwrap(),
        );
        let directory = format!("https://{addr}:14000/dir");
        let ca = d.join("ca.pem");
        wait_until(Duration::from_secs(15), "pebble's directory", || {
            net.exec(
                short,
                &["curl", "-sf", "--cacert", ca.to_str().unwrap(), &directory],
            )
            .is_ok()
        })
        .unwrap_or_else(|err| {
            panic!(
                "{err}: {}",
                std::fs::read_to_string(d.join("pebble.log")).unwrap_or_default()
            )
        });
        AcmeWorld {
            addr: addr.to_owned(),
            tsig_secret,
            directory,
            https_root: ca,
            dir,
            _knot: knot,
            _pebble: pebble,
        }
    }

    /// pebble's current root, from its management API, written to a file for curl.
    pub fn issuing_root(&self, net: &Namespaces, short: &str) -> PathBuf {
        let pem = net
            .exec(
                short,
                &[
                    "curl",
                    "-sf",
                    "--cacert",
                    self.https_root.to_str().unwrap(),
                    &format!("https://{}:15000/roots/0", self.addr),
                ],
            )
            .unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE"), "pebble's root: {pem}");
        let path = self.dir.path().join("issuing-root.pem");
        std::fs::write(&path, pem).unwrap();
        path
    }

    /// What knot says for `name`'s `rtype` records.
    pub fn dig(&self, net: &Namespaces, short: &str, name: &str, rtype: &str) -> String {
        dig(net, short, &self.addr, name, rtype)
    }

    pub fn pebble_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    pub fn knot_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }
}

/// busybox httpd inside the namespace `short` of `ns`: `name`'s page and a CGI
/// (`/cgi-bin/env.sh`) printing the `X-Forwarded-For` it was given. Returns the process, its
/// port on that namespace's loopback, and its folder.
pub fn web_service(ns: &Namespaces, short: &str, name: &str) -> (Proc, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        format!("<h1>hello from {name}</h1>\n"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("cgi-bin")).unwrap();
    let cgi = dir.path().join("cgi-bin/env.sh");
    std::fs::write(
        &cgi,
        "#!/bin/busybox sh\necho 'Content-Type: text/plain'\necho\necho \"for=$HTTP_X_FORWARDED_FOR\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let child = Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{}", ns.name(short)))
        .args([
            "/bin/busybox",
            "httpd",
            "-f",
            "-p",
            &format!("127.0.0.1:{port}"),
            "-h",
        ])
        .arg(dir.path())
        .spawn()
        .unwrap();
    (Proc(child), port, dir)
}

/// `panier ARGS` against `agent`, which must succeed; its output.
pub fn cli_ok(agent: &Agent, args: &[&str]) -> String {
    let out = agent.cli(args);
    assert!(
        out.status.success(),
        "panier {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
