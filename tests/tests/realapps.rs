//! Real applications with real clients: Debian's radicale, prosody and dokuwiki in test
//! images built with mmdebstrap (`tests/images/`), pushed to a real local registry and
//! installed by the agent through its normal pull path from their test manifests
//! (`tests/realapps/`, pinned to the pushed digests). Each is then proven by a real client
//! (`tests/clients/`): a CalDAV client over HTTPS through the proxy, XMPP clients through the
//! published port and the firewall, a wiki page edited over HTTP; and each is backed up with
//! the agent's backup, removed with its data, installed again, restored, and found again.

use panier_system_tests::engine::engine_url;
use panier_system_tests::realapps::{
    RealCatalog, back_up, cli_ok, client, pulled_by_digest, remove_with_data, restore,
};
use panier_system_tests::registry::Registry;
use panier_system_tests::services::EngineCleanup;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::time::Duration;

/// An agent on the test engine as the box's web entry (HTTPS by name), named `biblio`,
/// with `catalog`.
fn web_agent(engine: &str, catalog: &RealCatalog) -> Agent {
    Agent::start_with(AgentOptions {
        engine: Some(engine.to_owned()),
        config: Some("box_name = \"biblio\"\n".into()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        web_entry: true,
        ..Default::default()
    })
}

/// The manifest's provenance names the Debian package's version the image really holds.
fn provenance_matches(catalog: &RealCatalog, app: &str, package: &str) {
    let packages = catalog.images[app].packages().unwrap();
    let version = &packages[package];
    let wanted = format!("tag = \"{package} {version} (Debian bookworm)\"");
    assert!(
        catalog.manifest(app).contains(&wanted),
        "the manifest of {app} should say {wanted}"
    );
}

/// Installs `app` with `settings`, following the job; the output must show the pull.
fn install(agent: &Agent, app: &str, settings: &[&str]) {
    let mut args = vec!["app", "install", app, "--follow"];
    for s in settings {
        args.extend(["--set", s]);
    }
    let out = cli_ok(agent, &args);
    assert!(out.contains("succeeded"), "{out}");
}

#[test]
fn radicale_keeps_an_event_made_by_a_caldav_client_over_https_through_backup_and_restore() {
    let engine = engine_url();
    let registry = Registry::start().unwrap();
    let catalog = RealCatalog::make(&registry, &["radicale"]).unwrap();
    provenance_matches(&catalog, "radicale", "radicale");
    let app = catalog.id("radicale");
    let _cleanup = EngineCleanup {
        engine: engine.clone(),
        ids: catalog.ids(),
    };
    let agent = web_agent(&engine, &catalog);
    let password = "un agenda bien gardé";
    let settings = ["user=mediatheque", &format!("password={password}")];
    install(&agent, &app, &settings);
    assert!(
        pulled_by_digest(&engine, &app, "app", &catalog.pushed["radicale"]),
        "the agent pulled the pinned image from the registry"
    );

    // The CalDAV client, over HTTPS by the service's name, verifying the box's authority.
    let host = format!("{app}-biblio.local");
    let url = format!("https://{host}:{}/", agent.port);
    let ca = agent.ca_pem_path();
    let resolve = format!("{host}:127.0.0.1");
    let caldav = |user: &str, password: &str, action: &[&str]| {
        let mut args = vec![
            "--url",
            url.as_str(),
            "--user",
            user,
            "--password",
            password,
            "--ca",
            ca.to_str().unwrap(),
            "--resolve",
            resolve.as_str(),
        ];
        args.extend_from_slice(action);
        client(None, "caldav_event.py", &args)
    };
    let wait_serving = || {
        wait_until(
            Duration::from_secs(60),
            "Radicale through the proxy",
            || {
                caldav("mediatheque", password, &["read", "none"])
                    .status
                    .code()
                    == Some(3)
            },
        )
        .unwrap_or_else(|e| {
            let out = caldav("mediatheque", password, &["read", "none"]);
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                agent.log_text()
            )
        })
    };
    wait_serving();
    // The bcrypt account file is what lets a client in.
    let refused = caldav("mediatheque", "pas le bon mot de passe", &["read", "x"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a wrong password is refused"
    );
    let uid = "atelier-numerique-2026-12-12@biblio";
    let summary = "Atelier numérique : réparer son ordinateur";
    // (the agent's log says why, should the proxy fail a request)
    let made = caldav("mediatheque", password, &["create", uid, summary]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let read = caldav("mediatheque", password, &["read", uid]);
    assert_eq!(
        String::from_utf8_lossy(&read.stdout).trim(),
        summary,
        "{}\n{}",
        String::from_utf8_lossy(&read.stderr),
        agent.log_text()
    );

    // Backed up, removed with its data, installed again: the event is gone…
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = back_up(&agent, &app, tmp.path());
    remove_with_data(&agent, &engine, &app);
    install(&agent, &app, &settings);
    wait_serving();
    let missing = caldav("mediatheque", password, &["read", uid]);
    assert_eq!(
        missing.status.code(),
        Some(3),
        "a fresh Radicale has no event"
    );
    // …until the backup is restored.
    restore(&agent, &app, &snapshot);
    wait_serving();
    let found = caldav("mediatheque", password, &["read", uid]);
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).trim(),
        summary,
        "{}\n{}",
        String::from_utf8_lossy(&found.stderr),
        agent.log_text()
    );
}

#[test]
fn prosody_carries_messages_between_two_accounts_through_the_published_port_and_the_firewall() {
    use panier_system_tests::fwnet::{self, network};
    use panier_system_tests::netns::tcp_open;
    let ns = network("prx", 21);
    let (box_ns, lan, out) = (ns.name("box"), ns.name("lan"), ns.name("out"));
    let engine = fwnet::Engine::start(&box_ns);
    let registry = Registry::start_in(Some(&box_ns)).unwrap();
    let catalog = RealCatalog::make(&registry, &["prosody"]).unwrap();
    provenance_matches(&catalog, "prosody", "prosody");
    let app = catalog.id("prosody");
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine.url()),
        config: Some("box_name = \"biblio\"\n".into()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        firewall: true,
        netns: Some(box_ns.clone()),
        listen: Some("0.0.0.0:8443".into()),
        ..Default::default()
    });
    let settings = ["admin_name=accueil", "admin_password=un salon bien gardé"];
    install(&agent, &app, &settings);
    assert!(
        pulled_by_digest(&engine.url(), &app, "app", &catalog.pushed["prosody"]),
        "the agent pulled the pinned image from the registry"
    );
    // The service's domain, as the agent templated it ({{app.domain}}: its name on the box).
    let env = fwnet::docker(
        &engine.url(),
        &[
            "inspect",
            "-f",
            "{{range .Config.Env}}{{println .}}{{end}}",
            &format!("panier-{app}-app"),
        ],
    )
    .unwrap();
    let domain = env
        .lines()
        .find_map(|l| l.strip_prefix("DOMAIN="))
        .unwrap_or_else(|| panic!("no DOMAIN in {env}"))
        .to_owned();
    assert!(
        domain.starts_with(&format!("{app}-")) && domain.ends_with(".local"),
        "{domain}"
    );
    let (admin, reader) = (format!("accueil@{domain}"), format!("lecteur@{domain}"));
    let (admin_pw, reader_pw) = ("un salon bien gardé", "les livres du mardi");
    // A second account, made as an administrator would, with Prosody's own tool.
    fwnet::docker(
        &engine.url(),
        &[
            "exec",
            "-u",
            "prosody",
            &format!("panier-{app}-app"),
            "prosodyctl",
            "register",
            "lecteur",
            &domain,
            reader_pw,
        ],
    )
    .unwrap();
    // The server's certificate, made at its first start in its volume: what the clients trust.
    let cert = agent
        .data_dir
        .join(format!("apps/{app}/volumes/data/certs/{domain}.crt"));
    let xmpp = |ns: &str, action: &[&str]| {
        let mut args = vec!["--server", "10.203.21.1", "--ca", cert.to_str().unwrap()];
        args.extend_from_slice(action);
        client(Some(ns), "xmpp_message.py", &args)
    };
    let port = "10.203.21.1:5222";
    let published = |ns: &str| tcp_open(ns, port, Duration::from_millis(800));
    wait_until(
        Duration::from_secs(30),
        "the published port from the LAN",
        || published(&lan),
    )
    .unwrap();

    // From the LAN, through the published port: one account writes, the other receives.
    let body = "Bonjour, l'atelier commence à 14 h.";
    let got = xmpp(
        &lan,
        &["exchange", &admin, admin_pw, &reader, reader_pw, body],
    );
    assert!(
        got.status.success(),
        "{}{}",
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        format!("{admin}: {body}")
    );
    let refused = xmpp(&lan, &["receive", &reader, "pas le bon", body]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a wrong password is refused"
    );
    // From the outside the firewall drops it, until an admin opens the service.
    assert!(!published(&out), "the outside must not reach 5222");
    cli_ok(&agent, &["firewall", "set", "service", &app, "outside"]);
    let from_outside = xmpp(
        &out,
        &["exchange", &admin, admin_pw, &reader, reader_pw, "dehors"],
    );
    assert!(
        from_outside.status.success(),
        "opened to the outside: {}",
        String::from_utf8_lossy(&from_outside.stderr)
    );
    cli_ok(&agent, &["firewall", "set", "service", &app, "lan"]);
    assert!(!published(&out), "closed to the outside again");

    // A message left for the reader while away, then backed up, removed with the data,
    // installed again (no reader any more), restored: the reader logs in and gets it.
    let waiting = "Votre livre est arrivé.";
    let sent = xmpp(&lan, &["send", &admin, admin_pw, &reader, waiting]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = back_up(&agent, &app, tmp.path());
    remove_with_data(&agent, &engine.url(), &app);
    install(&agent, &app, &settings);
    let gone = xmpp(&lan, &["receive", &reader, reader_pw, waiting]);
    assert_eq!(gone.status.code(), Some(2), "a fresh server has no reader");
    restore(&agent, &app, &snapshot);
    wait_until(Duration::from_secs(30), "the restored server", || {
        published(&lan)
    })
    .unwrap();
    let got = xmpp(&lan, &["receive", &reader, reader_pw, waiting]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        format!("{admin}: {waiting}"),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    drop(agent);
}

#[test]
fn dokuwiki_keeps_a_page_edited_over_http_through_the_proxy_through_backup_and_restore() {
    let engine = engine_url();
    let registry = Registry::start().unwrap();
    let catalog = RealCatalog::make(&registry, &["dokuwiki"]).unwrap();
    provenance_matches(&catalog, "dokuwiki", "dokuwiki");
    let app = catalog.id("dokuwiki");
    let _cleanup = EngineCleanup {
        engine: engine.clone(),
        ids: catalog.ids(),
    };
    let agent = web_agent(&engine, &catalog);
    let password = "un wiki bien gardé";
    let settings = [
        "title=Wiki de la médiathèque",
        "admin_name=camille",
        &format!("admin_password={password}"),
    ];
    install(&agent, &app, &settings);
    assert!(
        pulled_by_digest(&engine, &app, "app", &catalog.pushed["dokuwiki"]),
        "the agent pulled the pinned image from the registry"
    );

    // By the service's name on the box's HTTP entry.
    let host = format!("{app}-biblio.local");
    let base = format!("http://{host}:{}", agent.http_port);
    let resolve = format!("{host}:127.0.0.1");
    let wiki = |action: &[&str]| {
        let mut args = vec!["--base", base.as_str(), "--resolve", resolve.as_str()];
        args.extend_from_slice(action);
        client(None, "wiki_page.py", &args)
    };
    let wait_serving = || {
        wait_until(
            Duration::from_secs(60),
            "DokuWiki through the proxy",
            || wiki(&["read", "nothing"]).status.code() == Some(3),
        )
        .unwrap_or_else(|e| {
            let out = wiki(&["read", "nothing"]);
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                agent.log_text()
            )
        })
    };
    wait_serving();
    // No installer, no anonymous edit, no default account.
    let installer = std::process::Command::new("curl")
        .args([
            "-sS",
            "--resolve",
            &format!("{host}:{}:127.0.0.1", agent.http_port),
        ])
        .arg(format!("{base}/install.php"))
        .output()
        .unwrap();
    let installer = String::from_utf8_lossy(&installer.stdout);
    assert!(
        installer.contains("DokuWiki") && !installer.contains("d[password]"),
        "install.php must not offer its form: {installer}"
    );
    let anonymous = wiki(&["edit", "-", "-", "accueil", "vandale"]);
    assert_eq!(anonymous.status.code(), Some(2), "visitors cannot edit");
    let wrong = wiki(&["edit", "camille", "pas le bon", "accueil", "x"]);
    assert_eq!(wrong.status.code(), Some(2), "a wrong password is refused");

    let text = "====== Horaires ======\n\nLa médiathèque ouvre le mardi de 10 h à 18 h.\n";
    let saved = wiki(&["edit", "camille", password, "horaires", text]);
    assert!(
        saved.status.success(),
        "{}{}",
        String::from_utf8_lossy(&saved.stdout),
        String::from_utf8_lossy(&saved.stderr)
    );
    let read = wiki(&["read", "horaires"]);
    assert_eq!(String::from_utf8_lossy(&read.stdout), text);

    let tmp = tempfile::tempdir().unwrap();
    let snapshot = back_up(&agent, &app, tmp.path());
    remove_with_data(&agent, &engine, &app);
    install(&agent, &app, &settings);
    wait_serving();
    assert_eq!(
        wiki(&["read", "horaires"]).status.code(),
        Some(3),
        "a fresh wiki"
    );
    restore(&agent, &app, &snapshot);
    wait_serving();
    let read = wiki(&["read", "horaires"]);
    assert_eq!(String::from_utf8_lossy(&read.stdout), text);
}
