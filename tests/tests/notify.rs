//! Mail alerts against a real SMTP server (Debian's aiosmtpd, STARTTLS required, with a
//! login): the settings never give the password back, a test mail arrives in French (from
//! the API and from the Health page's button), a service restarting in a loop is mailed once
//! while it lasts, and a relay refusing the login is said.

use panier_system_tests::backup::ServiceBox;
use panier_system_tests::engine::engine_url;
use panier_system_tests::smtp::{self, SmtpServer};
use panier_system_tests::succeeded as ok;
use serde_json::json;
use std::time::Duration;

#[test]
fn critical_issues_are_mailed_once_in_french() {
    let relay = SmtpServer::start().expect("the SMTP server starts");
    let s = ServiceBox::start_with(
        engine_url(),
        vec![("PANIER_HEALTH_PERIOD_SECS".into(), "2".into())],
    );
    let session = s.agent.login("camille", "un mot de passe solide");
    let settings = json!({
        "to": "mediatheque@example.org",
        "host": "localhost",
        "port": relay.port,
        "security": "starttls",
        "username": smtp::USER,
        "password": smtp::PASSWORD,
        "ca_pem": relay.ca_pem,
    });
    let (status, view) = session.send("PUT", "/api/v1/notify/mail", settings.clone());
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["password_set"], true, "{view}");
    let (_, shown) = session.get("/api/v1/notify/mail");
    assert!(!shown.to_string().contains(smtp::PASSWORD), "{shown}");

    // The test mail, from the API.
    let (status, body) = session.send("POST", "/api/v1/notify/test", json!({}));
    assert_eq!(status, 204, "{body}");
    let test = relay
        .wait_for("Mail d'essai", Duration::from_secs(20))
        .unwrap();
    assert_eq!(test.subject, "[Panier biblio] Mail d'essai");
    assert!(
        test.body
            .contains("Ce mail d'essai vient de la boîte « biblio »"),
        "{test:?}"
    );
    assert_eq!(test.to, ["mediatheque@example.org"]);
    assert_eq!(test.authenticated_as.as_deref(), Some(smtp::USER));

    // The same from the Health page's button.
    let page = session.page("/admin/health");
    assert!(page.contains(r#"id="mail-test""#), "{page}");
    assert!(!page.contains(smtp::PASSWORD));
    let r = session
        .http
        .post(&format!("{}/admin/health", session.base))
        .config()
        .max_redirects(0)
        .build()
        .send_form([("csrf", session.csrf.as_str()), ("action", "test")])
        .unwrap();
    assert_eq!(r.status(), 303);
    wait_count(&relay, "Mail d'essai", 2);

    // A critical issue: mailed once, in French, with what to do.
    let app = s.id("crashloop");
    ok(&s.agent.cli(&["app", "install", &app, "--follow"]));
    let alert = relay
        .wait_for("Urgent", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.agent.log_text()));
    assert_eq!(alert.subject, "[Panier biblio] Urgent : Services");
    assert!(alert.body.contains("redémarrent sans cesse"), "{alert:?}");
    assert!(alert.body.contains(&app), "{alert:?}");
    assert!(alert.body.contains("Quoi faire :"), "{alert:?}");
    // Still critical several rounds later: no second mail.
    std::thread::sleep(Duration::from_secs(10));
    let urgent = relay
        .received()
        .iter()
        .filter(|m| m.subject.contains("Urgent"))
        .count();
    assert_eq!(urgent, 1, "{:?}", relay.received());

    // A refused login is said, with the relay's answer, and kept with the settings.
    let mut wrong = settings;
    wrong["password"] = json!("pas le bon");
    let (status, _) = session.send("PUT", "/api/v1/notify/mail", wrong);
    assert_eq!(status, 200);
    let (status, body) = session.send("POST", "/api/v1/notify/test", json!({}));
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "notify_send_failed", "{body}");
    let (_, shown) = session.get("/api/v1/notify/mail");
    assert!(shown["last_error"].as_str().is_some(), "{shown}");
    // Never in the journal either.
    let log = s.agent.log_text();
    assert!(!log.contains(smtp::PASSWORD) && !log.contains("pas le bon"));
    ok(&s.agent.cli(&["app", "stop", &app]));
}

fn wait_count(relay: &SmtpServer, subject: &str, n: usize) {
    panier_system_tests::wait_until(Duration::from_secs(20), "the mails", || {
        relay
            .received()
            .iter()
            .filter(|m| m.subject.contains(subject))
            .count()
            >= n
    })
    .unwrap();
}
