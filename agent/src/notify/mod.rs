//! Mail notifications of the health centre: an admin gives an address and an SMTP relay (the
//! box's own mail service or another: host, port, STARTTLS/TLS/none, user, password); each new
//! critical health issue is mailed once, then a daily digest lists those that last
//! (`plan`, a pure function); "Send a test mail" checks the settings at once.
//!
//! Owns the `notify_mail` and `notify_issues` tables (through `store`). The health loop calls
//! [`Notifier::tick`] every round with the findings; mails are in the box's language.
//!
//! Invariants: the password is write-only (the API, the pages and the logs show whether one
//! is set, never it; `MailRow`'s `Debug` leaves it out); an issue counts as mailed only once
//! the relay accepted the mail, so a failing relay is retried (at most every
//! [`RETRY_AFTER`]) and the failure is shown with the settings.

mod mail;
pub mod plan;

pub use mail::Mail;

use crate::health::Finding;
use crate::i18n::{Messages, messages};
use crate::store::{MailRow, MailSecurity, NewAudit, NotifiedIssue, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no mail address and relay are set for alerts")]
    NotConfigured,
    #[error("the {field} address '{value}' is not valid: {detail}")]
    BadAddress {
        field: &'static str,
        value: String,
        detail: String,
    },
    #[error("the relay's host name '{0}' is not valid")]
    BadHost(String),
    #[error("a user name needs a password (and a password a user name)")]
    HalfCredentials,
    #[error("the relay's certificate authority cannot be used: {0}")]
    Tls(String),
    #[error("the relay did not take the mail: {0}")]
    Send(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NotifyError {
    pub fn key(&self) -> &'static str {
        match self {
            NotifyError::NotConfigured => "notify_not_configured",
            NotifyError::BadAddress { .. } => "notify_bad_address",
            NotifyError::BadHost(_) => "notify_bad_host",
            NotifyError::HalfCredentials => "notify_half_credentials",
            NotifyError::Tls(_) => "notify_tls",
            NotifyError::Send(_) => "notify_send_failed",
            NotifyError::Store(_) => "internal",
        }
    }
}

/// The settings as an admin gives them. A missing password keeps the stored one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailSettingsInput {
    pub to: String,
    #[serde(default)]
    pub from: Option<String>,
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    #[serde(default)]
    pub username: Option<String>,
    /// Write-only; absent or null: keep the one stored.
    #[serde(default)]
    pub password: Option<String>,
    /// The relay's own authority (PEM), for a relay whose certificate is not from a public one.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

/// The settings as the API and the pages show them: never the password.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailSettingsView {
    pub to: String,
    pub from: Option<String>,
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    pub username: Option<String>,
    pub password_set: bool,
    pub ca_set: bool,
    pub last_sent_at: Option<i64>,
    /// Why the last mail failed.
    pub last_error: Option<String>,
    pub digest_at: Option<i64>,
}

impl From<MailRow> for MailSettingsView {
    fn from(r: MailRow) -> Self {
        MailSettingsView {
            to: r.to,
            from: r.from,
            host: r.host,
            port: r.port,
            security: r.security,
            username: r.username,
            password_set: r.password.is_some(),
            ca_set: r.ca_pem.is_some(),
            last_sent_at: r.last_sent_at,
            last_error: r.last_error,
            digest_at: r.digest_at,
        }
    }
}

#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// The last failed send: the relay is not retried before [`RETRY_AFTER`].
    failed_at: Mutex<Option<Instant>>,
    /// One round at a time (the loop and a test mail may meet).
    sending: tokio::sync::Mutex<()>,
}

fn empty_is_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Notifier {
    pub fn new(store: Store) -> Notifier {
        Notifier {
            inner: Arc::new(Inner {
                store,
                failed_at: Mutex::new(None),
                sending: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn view(&self) -> Result<Option<MailSettingsView>, NotifyError> {
        Ok(self.inner.store.mail_settings()?.map(Into::into))
    }

    fn audit(
        &self,
        actor: &str,
        action: &'static str,
        target: &str,
        result: &'static str,
        detail: String,
    ) {
        let entry = NewAudit {
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            result,
            detail,
        };
        if let Err(e) = self.inner.store.record(&entry) {
            log::error!("{e}");
        }
    }

    /// Checks and saves the settings.
    pub fn set(
        &self,
        actor: &str,
        input: MailSettingsInput,
    ) -> Result<MailSettingsView, NotifyError> {
        let to = input.to.trim().to_owned();
        mail::mailbox("to", &to)?;
        let from = empty_is_none(input.from);
        if let Some(f) = &from {
            mail::mailbox("from", f)?;
        }
        let host = input.host.trim().to_owned();
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !host_ok {
            return Err(NotifyError::BadHost(host));
        }
        let stored = self.inner.store.mail_settings()?;
        let username = empty_is_none(input.username);
        let password = match input.password.filter(|p| !p.is_empty()) {
            Some(p) => Some(p),
            None => stored.as_ref().and_then(|s| s.password.clone()),
        };
        let password = username.as_ref().and(password);
        if username.is_some() != password.is_some() {
            return Err(NotifyError::HalfCredentials);
        }
        let ca_pem = empty_is_none(input.ca_pem);
        if let Some(ca) = &ca_pem {
            lettre::transport::smtp::client::Certificate::from_pem(ca.as_bytes())
                .map_err(|e| NotifyError::Tls(e.to_string()))?;
        }
        let row = MailRow {
            to: to.clone(),
            from,
            host: host.clone(),
            port: input.port,
            security: input.security,
            username,
            password,
            ca_pem,
            updated_at: crate::store::now(),
            last_sent_at: stored.as_ref().and_then(|s| s.last_sent_at),
            last_error: None,
            digest_at: stored.as_ref().and_then(|s| s.digest_at),
        };
        self.inner.store.set_mail_settings(Some(&row))?;
        *self
            .inner
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        self.audit(
            actor,
            "notify_set",
            &to,
            "ok",
            format!("{host}:{} ({})", input.port, input.security.as_str()),
        );
        Ok(self.view()?.expect("just saved"))
    }

    pub fn clear(&self, actor: &str) -> Result<(), NotifyError> {
        self.inner.store.set_mail_settings(None)?;
        self.audit(actor, "notify_clear", "", "ok", String::new());
        Ok(())
    }

    fn box_name_and_language(&self) -> (String, &'static Messages) {
        let s = self.inner.store.box_settings().unwrap_or_default();
        (
            s.name
                .map(|n| n.to_string())
                .unwrap_or_else(|| "panier".into()),
            messages(s.language),
        )
    }

    async fn send(&self, row: &MailRow, mail: &Mail, digest: bool) -> Result<(), NotifyError> {
        let (name, _) = self.box_name_and_language();
        let default_from = format!("panier@{name}.local");
        let result = mail::send(row, &default_from, mail).await;
        let now = crate::store::now();
        let error = result.as_ref().err().map(|e| e.to_string());
        self.inner
            .store
            .record_mail_sent(now, error.as_deref(), digest)?;
        let mut failed = self
            .inner
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(()) => {
                log::info!("mailed \"{}\" to {}", mail.subject, row.to);
                *failed = None;
            }
            Err(e) => {
                log::warn!("cannot mail \"{}\" to {}: {e}", mail.subject, row.to);
                *failed = Some(Instant::now());
            }
        }
        result
    }

    /// Sends a test mail now.
    pub async fn send_test(&self, actor: &str) -> Result<(), NotifyError> {
        let _one = self.inner.sending.lock().await;
        let row = self
            .inner
            .store
            .mail_settings()?
            .ok_or(NotifyError::NotConfigured)?;
        let (name, t) = self.box_name_and_language();
        let mail = Mail {
            subject: t.fmt("notify.subject_test", &[("box", &name)]),
            body: format!(
                "{}\n\n{}\n",
                t.fmt("notify.body_test", &[("box", &name)]),
                t.fmt("notify.body_footer", &[("box", &name)])
            ),
        };
        let result = self.send(&row, &mail, false).await;
        self.audit(
            actor,
            "notify_test",
            &row.to,
            if result.is_ok() { "ok" } else { "failed" },
            result
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        );
        result
    }

    /// One round: mails new critical issues and the digest when due, forgets the gone ones.
    pub async fn tick(&self, findings: &[Finding]) {
        if let Err(e) = self.round(findings).await {
            log::debug!("notifications: {e}");
        }
    }

    async fn round(&self, findings: &[Finding]) -> Result<(), NotifyError> {
        let _one = self.inner.sending.lock().await;
        let Some(row) = self.inner.store.mail_settings()? else {
            return Ok(());
        };
        let store = &self.inner.store;
        let now = crate::store::now();
        let known = store.notified_issues()?;
        let p = plan::plan(findings, &known, row.digest_at, now);
        for (check, key) in &p.gone {
            store.forget_notified_issue(check, key)?;
        }
        if p.alerts.is_empty() && p.digest.is_empty() {
            return Ok(());
        }
        let failed_recently = self
            .inner
            .failed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if failed_recently {
            return Ok(());
        }
        let (name, t) = self.box_name_and_language();
        for f in &p.alerts {
            let first_seen = known
                .iter()
                .find(|i| i.check == f.check && i.key == f.key)
                .map_or(now, |i| i.first_seen);
            let sent = self
                .send(&row, &alert_mail(t, &name, f), false)
                .await
                .is_ok();
            store.put_notified_issue(&NotifiedIssue {
                check: f.check.to_owned(),
                key: f.key.to_owned(),
                first_seen,
                mailed_at: sent.then_some(now),
            })?;
            if !sent {
                return Ok(());
            }
        }
        if !p.digest.is_empty() {
            self.send(&row, &digest_mail(t, &name, &p.digest), true)
                .await?;
        }
        Ok(())
    }
}

fn describe(t: &Messages, f: &Finding) -> String {
    format!(
        "{} : {}\n{} {}",
        f.title(t),
        f.what(t),
        t.get("notify.body_fix"),
        f.fix(t)
    )
}

/// The mail for one new critical issue.
pub fn alert_mail(t: &Messages, name: &str, f: &Finding) -> Mail {
    Mail {
        subject: t.fmt(
            "notify.subject_alert",
            &[("box", name), ("title", &f.title(t))],
        ),
        body: format!(
            "{}\n\n{}\n\n{}\n",
            t.fmt("notify.body_alert_intro", &[("box", name)]),
            describe(t, f),
            t.fmt("notify.body_footer", &[("box", name)])
        ),
    }
}

/// The daily digest of the critical issues that last.
pub fn digest_mail(t: &Messages, name: &str, findings: &[Finding]) -> Mail {
    let list: Vec<String> = findings.iter().map(|f| describe(t, f)).collect();
    Mail {
        subject: t.fmt(
            "notify.subject_digest",
            &[("box", name), ("count", &findings.len().to_string())],
        ),
        body: format!(
            "{}\n\n{}\n\n{}\n",
            t.fmt("notify.body_digest_intro", &[("box", name)]),
            list.join("\n\n"),
            t.fmt("notify.body_footer", &[("box", name)])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::State;

    #[test]
    fn mails_say_what_and_what_to_do_in_the_boxs_language() {
        let f = Finding::new("services", State::Critical, "service_restart_loop")
            .arg("services", "pad");
        let m = alert_mail(messages(crate::names::Language::Fr), "biblio", &f);
        assert!(
            m.subject.contains("biblio") && m.subject.contains("Urgent"),
            "{m:?}"
        );
        assert!(m.body.contains("redémarrent sans cesse : pad"), "{m:?}");
        assert!(m.body.contains("Quoi faire"), "{m:?}");
        let d = digest_mail(messages(crate::names::Language::En), "biblio", &[f]);
        assert!(d.subject.contains('1'), "{d:?}");
        assert!(
            d.body.contains("keep stopping and restarting: pad"),
            "{d:?}"
        );
    }

    #[test]
    fn the_password_is_never_shown() {
        let store = Store::memory();
        let n = Notifier::new(store.clone());
        let input = MailSettingsInput {
            to: "camille@example.org".into(),
            from: None,
            host: "smtp.example.org".into(),
            port: 587,
            security: MailSecurity::Starttls,
            username: Some("camille".into()),
            password: Some("tres secret".into()),
            ca_pem: None,
        };
        let view = n.set("camille", input.clone()).unwrap();
        assert!(view.password_set);
        let json = serde_json::to_string(&view).unwrap();
        assert!(!json.contains("tres secret"), "{json}");
        let row = store.mail_settings().unwrap().unwrap();
        assert!(!format!("{row:?}").contains("tres secret"));
        // Saving again without a password keeps it.
        n.set(
            "camille",
            MailSettingsInput {
                password: None,
                ..input.clone()
            },
        )
        .unwrap();
        assert_eq!(
            store.mail_settings().unwrap().unwrap().password.as_deref(),
            Some("tres secret")
        );
        let bad = n.set(
            "camille",
            MailSettingsInput {
                to: "not an address".into(),
                ..input.clone()
            },
        );
        assert!(matches!(bad, Err(NotifyError::BadAddress { .. })));
        let bad = n.set(
            "camille",
            MailSettingsInput {
                host: "smtp.example.org -oProxy".into(),
                ..input
            },
        );
        assert!(matches!(bad, Err(NotifyError::BadHost(_))));
    }
}
