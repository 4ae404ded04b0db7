//! The box's authority on a shared LAN:
//!
//! - a leaf for a public address, signed with the box's own CA key (a stolen key, a bug),
//!   is refused by OpenSSL's verifier: the authority's name constraints now cover IP
//!   addresses (private, unique-local, link-local, loopback), while a LAN address passes;
//! - plain-HTTP public pages neither link nor redirect to the admin UI and do not show the
//!   fingerprint (anyone spoofing mDNS or ARP could rewrite them); HTTPS answers carry HSTS.

use panier_system_tests::{Agent, AgentOptions};
use std::process::Command;

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_authority_cannot_vouch_for_public_addresses() {
    let agent = Agent::start_with(AgentOptions {
        config: Some("box_name = \"biblio\"\n".into()),
        web_entry: true,
        ..Default::default()
    });
    let tls = agent.data_dir.join("tls");
    let (ca_crt, ca_key) = (tls.join("ca.crt"), tls.join("ca.key"));
    let work = tempfile::tempdir().unwrap();
    for (name, san, expect_ok) in [
        ("lan", "IP:192.168.1.10", true),
        ("public", "IP:8.8.8.8", false),
        ("public6", "IP:2001:4860:4860::8888", false),
        ("bank", "DNS:banque.example", false),
    ] {
        let key = work.path().join(format!("{name}.key"));
        let csr = work.path().join(format!("{name}.csr"));
        let crt = work.path().join(format!("{name}.crt"));
        let ext = work.path().join(format!("{name}.ext"));
        std::fs::write(&ext, format!("subjectAltName={san}\n")).unwrap();
        let p = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let (ok, out) = openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p(&key),
            "-out",
            &p(&csr),
            "-subj",
            "/CN=forged",
        ]);
        assert!(ok, "{out}");
        let (ok, out) = openssl(&[
            "x509",
            "-req",
            "-in",
            &p(&csr),
            "-CA",
            &p(&ca_crt),
            "-CAkey",
            &p(&ca_key),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &p(&ext),
            "-out",
            &p(&crt),
        ]);
        assert!(ok, "signing with the box's key: {out}");
        let (ok, out) = openssl(&["verify", "-CAfile", &p(&ca_crt), &p(&crt)]);
        assert_eq!(ok, expect_ok, "{name} ({san}): {out}");
        if !expect_ok {
            assert!(out.contains("subtree violation"), "{name}: {out}");
        }
    }
}

#[test]
fn plain_http_pages_neither_link_nor_redirect_to_the_admin_ui() {
    let agent = Agent::start_with(AgentOptions {
        config: Some("box_name = \"biblio\"\n".into()),
        web_entry: true,
        ..Default::default()
    });
    let get = |url: &str, extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-D", "-", "-H", "Host: biblio.local"])
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for path in ["/", "/ca", "/admin", "/admin/login"] {
        let page = get(&agent.http_url(path), &[]);
        assert!(page.starts_with("HTTP/1.1 200"), "{path}: {page}");
        assert!(!page.to_lowercase().contains("location:"), "{path}: {page}");
        assert!(!page.contains("href=\"/admin"), "{path}: {page}");
        assert!(!page.contains("href=\"https://"), "{path}: {page}");
    }
    // The fingerprint is not on the plain page, only where staff can trust it.
    let report = agent.access_report();
    let fingerprint = report["ca_fingerprint"].as_str().unwrap().to_owned();
    assert!(!fingerprint.is_empty());
    let ca_page = get(&agent.http_url("/ca"), &[]);
    assert!(!ca_page.contains(&fingerprint), "{ca_page}");
    // Over HTTPS the box asks browsers to keep to HTTPS.
    let ca = agent.ca_pem_path();
    let head = get(
        &format!("https://biblio.local:{}/admin/login", agent.port),
        &[
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &format!("biblio.local:{}:127.0.0.1", agent.port),
            "-o",
            "/dev/null",
        ],
    );
    assert!(
        head.to_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
}
