//! Beyond the building: the box's public domain and trusted certificates, against real
//! components in network namespaces — Debian's `pebble` (Let's Encrypt's test authority) and
//! `knot` (RFC 2136 updates with TSIG), the real agent as the box's web entry, curl as the
//! visitor verifying against pebble's own root.
//!
//! ```text
//!  box 10.203.n.1 (agent on :80/:443, busybox httpd behind it as "pad")
//!   └── net 10.203.n.2 (pebble :14000, knot :53, the visitor's curl)
//! ```

use panier_system_tests::acme::{AcmeWorld, TSIG_NAME, ZONE, cli_ok, web_service};
use panier_system_tests::netns::Namespaces;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::time::{Duration, Instant};

/// box — net, for subnet 10.203.n.0/24.
fn world(n: u8) -> Namespaces {
    let ns =
        Namespaces::create(&format!("rch{}-{n}", std::process::id()), &["box", "net"]).unwrap();
    ns.link(
        "box",
        "eth0",
        &format!("10.203.{n}.1/24"),
        "net",
        "eth0",
        &format!("10.203.{n}.2/24"),
    )
    .unwrap();
    ns
}

fn start_box(ns: &Namespaces, acme: &AcmeWorld, port: u16) -> Agent {
    Agent::start_with(AgentOptions {
        netns: Some(ns.name("box")),
        web_entry: true,
        listen: Some("0.0.0.0:443".into()),
        config: Some(format!(
            "acme_root = \"{}\"\n[[extra_routes]]\nname = \"pad\"\nupstream = \"127.0.0.1:{port}\"\n",
            acme.https_root.display()
        )),
        ..Default::default()
    })
}

fn status(agent: &Agent) -> serde_json::Value {
    serde_json::from_str(&cli_ok(agent, &["reach", "status", "--json"])).unwrap()
}

/// `curl` from the visitor's namespace, verifying against `root`, for `host` at the box.
fn visit(
    ns: &Namespaces,
    root: &std::path::Path,
    host: &str,
    box_ip: &str,
    path: &str,
) -> anyhow::Result<String> {
    ns.exec(
        "net",
        &[
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            root.to_str().unwrap(),
            "--resolve",
            &format!("{host}:443:{box_ip}"),
            &format!("https://{host}{path}"),
        ],
    )
}

/// The serial and end date of the certificate the box presents for `host`.
fn served(ns: &Namespaces, host: &str, box_ip: &str) -> String {
    let script = format!(
        "openssl s_client -connect {box_ip}:443 -servername {host} </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate"
    );
    ns.exec("net", &["sh", "-c", &script]).unwrap_or_default()
}

fn wait_certificate(agent: &Agent, acme: &AcmeWorld, what: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_until(Duration::from_secs(90), what, || {
        last = status(agent);
        last["certificate"].is_object() && last["last_attempt"]["ok"] == true
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\nstatus: {last:#}\nagent: {}\npebble: {}\nknot: {}",
            agent.log_text(),
            acme.pebble_log(),
            acme.knot_log()
        )
    });
    last
}

/// Certificates by DNS-01 from `acme`, the TSIG secret read from `secret`.
fn use_dns01(agent: &Agent, acme: &AcmeWorld, net_ip: &str, secret: &std::path::Path) {
    cli_ok(
        agent,
        &[
            "reach",
            "acme",
            "--directory",
            &acme.directory,
            "--challenge",
            "dns-01",
            "--dns-server",
            &format!("{net_ip}:53"),
            "--tsig-name",
            TSIG_NAME,
            "--tsig-secret-file",
            secret.to_str().unwrap(),
        ],
    );
}

#[test]
fn a_dns01_certificate_through_rfc2136_with_tsig_is_served_by_sni_and_renewed_before_it_expires() {
    let n = 60;
    let ns = world(n);
    let (box_ip, net_ip) = (format!("10.203.{n}.1"), format!("10.203.{n}.2"));
    let acme = AcmeWorld::start(&ns, "net", &net_ip, &box_ip, Duration::from_secs(90));
    let (_httpd, port, _site) = web_service(&ns, "box", "pad");
    let agent = start_box(&ns, &acme, port);
    let secret = acme.dir.path().join("tsig.secret");
    std::fs::write(&secret, &acme.tsig_secret).unwrap();
    use_dns01(&agent, &acme, &net_ip, &secret);
    let shown = status(&agent);
    assert_eq!(shown["tsig_secret_set"], true);
    assert!(
        !shown.to_string().contains(&acme.tsig_secret),
        "the TSIG secret is never shown back"
    );
    cli_ok(&agent, &["reach", "domain", "set", ZONE]);
    let host = format!("pad.{ZONE}");
    let first = wait_certificate(&agent, &acme, "a certificate by DNS-01");
    assert_eq!(first["certificate"]["names"], serde_json::json!([host]));
    assert_eq!(first["services"][0]["host"], host.as_str());

    // The visitor verifies the chain against pebble's root, fetched from its management API.
    let root = acme.issuing_root(&ns, "net");
    let page = visit(&ns, &root, &host, &box_ip, "/").unwrap();
    assert!(page.contains("hello from pad"), "{page}");
    // The challenge records were removed from the zone afterwards.
    assert_eq!(
        acme.dig(&ns, "net", &format!("_acme-challenge.{host}"), "TXT")
            .trim(),
        ""
    );
    // The admin UI is not served under a public name (any name of the domain gets the help page).
    for h in [format!("admin.{ZONE}"), ZONE.to_owned()] {
        let body = ns
            .exec(
                "net",
                &[
                    "curl",
                    "-sk",
                    "--max-time",
                    "10",
                    "--resolve",
                    &format!("{h}:443:{box_ip}"),
                    &format!("https://{h}/admin/login"),
                ],
            )
            .unwrap();
        assert!(
            !body.contains("csrf") && !body.contains("password"),
            "{h}: {body}"
        );
    }
    // The box's own names keep the box's own certificate (pebble's root does not vouch for it).
    assert!(visit(&ns, &root, "pad-panier.local", &box_ip, "/").is_err());

    // Renewal: two thirds into the 90 s lifetime, the box has a new certificate before the
    // first one expires.
    let before = served(&ns, &host, &box_ip);
    assert!(before.contains("serial="), "{before}");
    let expires = first["certificate"]["not_after"].as_i64().unwrap();
    let renew_at = first["certificate"]["renew_at"].as_i64().unwrap();
    assert!(renew_at < expires);
    let start = Instant::now();
    let mut now_served = String::new();
    wait_until(Duration::from_secs(100), "a renewed certificate", || {
        now_served = served(&ns, &host, &box_ip);
        now_served.contains("serial=") && now_served != before
    })
    .unwrap_or_else(|e| panic!("{e}: {}", agent.log_text()));
    let renewed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        renewed_at < expires,
        "renewed at {renewed_at}, the first expired at {expires}"
    );
    let second = status(&agent);
    assert!(second["certificate"]["not_after"].as_i64().unwrap() > expires);
    let page = visit(&ns, &root, &host, &box_ip, "/").unwrap();
    assert!(page.contains("hello from pad"), "{page}");
    eprintln!(
        "renewed after {:?}: {before} → {now_served}",
        start.elapsed()
    );
}

#[test]
fn an_http01_certificate_answered_by_the_box_after_a_refused_dns_update_said_with_its_reason() {
    let n = 62;
    let ns = world(n);
    let (box_ip, net_ip) = (format!("10.203.{n}.1"), format!("10.203.{n}.2"));
    let acme = AcmeWorld::start(&ns, "net", &net_ip, &box_ip, Duration::from_secs(3600));
    let (_httpd, port, _site) = web_service(&ns, "box", "pad");
    let agent = start_box(&ns, &acme, port);
    // A wrong TSIG secret: knot refuses the update, the failure is recorded with its reason.
    let wrong = acme.dir.path().join("wrong.secret");
    std::fs::write(&wrong, "d3JvbmcgYnV0IHdlbGwgZm9ybWVkIHNlY3JldCAhIQ==").unwrap();
    use_dns01(&agent, &acme, &net_ip, &wrong);
    cli_ok(&agent, &["reach", "domain", "set", ZONE]);
    // A public name chosen by the admin, outside the `<service>.<domain>` default.
    cli_ok(&agent, &["reach", "name", "pad", &format!("notes.{ZONE}")]);
    let mut last = serde_json::Value::Null;
    wait_until(Duration::from_secs(60), "a recorded failure", || {
        last = status(&agent);
        last["last_attempt"]["ok"] == false
    })
    .unwrap_or_else(|e| panic!("{e}: {last:#}\n{}", agent.log_text()));
    assert_eq!(last["last_attempt"]["error_key"], "dns_refused", "{last:#}");
    let fr = last["last_attempt"]["message"]["fr"].as_str().unwrap();
    let en = last["last_attempt"]["message"]["en"].as_str().unwrap();
    assert!(fr.contains("TSIG") && en.contains("TSIG"), "{fr} / {en}");
    assert!(
        last["last_attempt"]["detail"]
            .as_str()
            .unwrap()
            .contains("NOTAUTH")
            || last["last_attempt"]["detail"]
                .as_str()
                .unwrap()
                .contains("refused")
    );
    let text = cli_ok(&agent, &["reach", "status"]);
    assert!(text.contains("Last attempt failed"), "{text}");
    assert!(last["certificate"].is_null());

    // HTTP-01: pebble asks the box on port 80 of the address the zone gives.
    cli_ok(&agent, &["reach", "acme", "--challenge", "http-01"]);
    let got = wait_certificate(&agent, &acme, "a certificate by HTTP-01");
    let host = format!("notes.{ZONE}");
    assert_eq!(got["certificate"]["names"], serde_json::json!([host]));
    assert!(
        acme.pebble_log().contains("Attempting to validate w/ HTTP"),
        "pebble validated over HTTP-01: {}",
        acme.pebble_log()
    );
    let root = acme.issuing_root(&ns, "net");
    let page = visit(&ns, &root, &host, &box_ip, "/").unwrap();
    assert!(page.contains("hello from pad"), "{page}");
    // The service sees the visitor's own address.
    let env = visit(&ns, &root, &host, &box_ip, "/cgi-bin/env.sh").unwrap();
    assert!(env.contains(&format!("for={net_ip}")), "{env}");
    // The diagnosis: the name resolves, both ports answer, the box's certificate is served.
    let findings: serde_json::Value =
        serde_json::from_str(&cli_ok(&agent, &["reach", "diagnose", "--json"])).unwrap();
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), 4, "{findings:#?}");
    assert!(findings.iter().all(|f| f["ok"] == true), "{findings:#?}");
    // A name whose record points at an address where nothing answers, and a name that does
    // not resolve: said in plain words, in both languages, with what to do.
    let update = format!(
        "printf 'server {net_ip} 53\\nzone {ZONE}\\nupdate add closed.{ZONE} 5 A {net_ip}\\nsend\\n' | nsupdate -y hmac-sha256:{TSIG_NAME}:{}",
        acme.tsig_secret
    );
    ns.exec("net", &["sh", "-c", &update]).unwrap();
    cli_ok(&agent, &["reach", "name", "pad", &format!("closed.{ZONE}")]);
    let out = agent.cli(&["reach", "diagnose"]);
    assert_eq!(out.status.code(), Some(1), "a failed check exits 1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "✘ closed.{ZONE} port443: Le port 443 de {net_ip} ne répond pas"
        )),
        "{text}"
    );
    let en = String::from_utf8_lossy(&agent.cli(&["reach", "diagnose", "--lang", "en"]).stdout)
        .into_owned();
    assert!(
        en.contains(&format!(
            "Port 80 of {net_ip} does not answer for closed.{ZONE}"
        )),
        "{en}"
    );
    cli_ok(&agent, &["reach", "name", "pad", "notes.elsewhere.test"]);
    let text = String::from_utf8_lossy(&agent.cli(&["reach", "diagnose"]).stdout).into_owned();
    assert!(
        text.contains(
            "✘ notes.elsewhere.test dns: Le nom notes.elsewhere.test ne mène à aucune adresse"
        ),
        "{text}"
    );
    // Tokens are answered only while their order is pending.
    let token = ns
        .exec(
            "net",
            &[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("http://{box_ip}/.well-known/acme-challenge/nothing"),
            ],
        )
        .unwrap();
    assert_ne!(token, "200");
}

#[test]
fn the_public_access_page_sets_the_domain_and_says_a_wrong_one_in_the_admins_language() {
    let agent = Agent::start();
    let s = agent.ready_session();
    let url = format!("{}/admin/reach", s.base);
    let page = s
        .http
        .get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains("Domaine de la boîte"), "{page}");
    let post = |fields: &[(&str, &str)]| {
        let mut all = vec![("csrf", s.csrf.as_str())];
        all.extend_from_slice(fields);
        s.http
            .post(&url)
            .send_form(all)
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let saved = post(&[("action", "domain"), ("domain", "Biblio.Example.org")]);
    assert!(
        saved.contains("Modification enregistrée")
            && saved.contains("value=\"biblio.example.org\""),
        "{saved}"
    );
    let refused = post(&[("action", "domain"), ("domain", "boite.local")]);
    assert!(
        refused.contains("role=\"alert\">Ce domaine n") && refused.contains("est pas utilisable"),
        "{refused}"
    );
    let (code, view) = s.get("/api/v1/reach");
    assert_eq!(code, 200);
    assert_eq!(view["domain"], "biblio.example.org");
    assert_eq!(
        view["directory"],
        "https://acme-v02.api.letsencrypt.org/directory"
    );
    // Without a session, neither the page nor the API.
    let anonymous = ureq::get(&agent.url("/api/v1/reach"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
