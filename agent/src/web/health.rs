//! The Health page: every check of the health centre with its state, what it means and what
//! to do, in the admin's language (it reloads itself every minute), and the mail alerts'
//! settings with "Send a test mail".

use super::PageActor;
use super::{Layout, PageError, check_form, render};
use crate::health::Health;
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::notify::{MailSettingsInput, MailSettingsView, Notifier};
use crate::status::Status;
use crate::store::MailSecurity;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

pub struct CheckRow {
    pub check: &'static str,
    pub state: &'static str,
    pub key: &'static str,
    pub title: String,
    pub state_text: String,
    pub what: String,
    pub fix: String,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    t: &'static Messages,
    layout: Layout,
    checks: Vec<CheckRow>,
    checked_at: String,
    mail: Option<MailSettingsView>,
    /// What the last form did (`saved`, `test_sent`, `removed`).
    done: String,
}

impl HealthPage {
    fn security_is(&self, s: &str) -> bool {
        self.mail
            .as_ref()
            .map_or(s == "starttls", |m| m.security.as_str() == s)
    }

    fn done_text(&self) -> String {
        self.t.get(&format!("notify.{}", self.done)).to_owned()
    }

    fn last_sent(&self) -> Option<String> {
        self.mail
            .as_ref()?
            .last_sent_at
            .map(crate::http::time::format_time)
    }
}

pub async fn page(
    PageActor(actor): PageActor,
    State(status): State<Status>,
    State(health): State<Health>,
    State(notifier): State<Notifier>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let layout = Layout::new(
        t,
        "health.title",
        "/admin/health",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let checks = health
        .findings()
        .into_iter()
        .map(|f| CheckRow {
            check: f.check,
            state: f.state.as_str(),
            key: f.key,
            title: f.title(t),
            state_text: t
                .get(&format!("health.state_{}", f.state.as_str()))
                .to_owned(),
            what: f.what(t),
            fix: f.fix(t),
        })
        .collect();
    let mail = notifier.view().map_err(|e| PageError::new(e, t.language))?;
    let done = query
        .get("done")
        .filter(|d| matches!(d.as_str(), "saved" | "test_sent" | "removed"))
        .cloned()
        .unwrap_or_default();
    Ok(render(&HealthPage {
        t,
        layout,
        checks,
        checked_at: crate::http::time::format_time(crate::store::now()),
        mail,
        done,
    }))
}

/// The mail alerts' form: `save`, `test` or `remove`.
pub async fn submit(
    PageActor(actor): PageActor,
    State(status): State<Status>,
    State(notifier): State<Notifier>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let optional = |k: &str| Some(field(k)).filter(|v| !v.is_empty());
    check_form(&actor, &field("csrf"), lang)?;
    let who = actor.audit_name();
    let err = |e| PageError::new(ApiError::Notify(e), lang);
    let done = match field("action").as_str() {
        "save" => {
            let security = match field("security").as_str() {
                "tls" => MailSecurity::Tls,
                "none" => MailSecurity::None,
                _ => MailSecurity::Starttls,
            };
            let port = field("port")
                .parse()
                .map_err(|_| PageError::new(ApiError::BadRequest("port".into()), lang))?;
            let input = MailSettingsInput {
                to: field("to"),
                from: optional("from"),
                host: field("host"),
                port,
                security,
                username: optional("username"),
                // Not trimmed: a password may hold spaces.
                password: form.get("password").filter(|p| !p.is_empty()).cloned(),
                ca_pem: optional("ca_pem"),
            };
            notifier.set(&who, input).map_err(err)?;
            "saved"
        }
        "test" => {
            notifier.send_test(&who).await.map_err(err)?;
            "test_sent"
        }
        "remove" => {
            notifier.clear(&who).map_err(err)?;
            "removed"
        }
        _ => {
            return Err(PageError::new(
                ApiError::BadRequest("unknown action".into()),
                lang,
            ));
        }
    };
    Ok(Redirect::to(&format!("/admin/health?done={done}#mail")).into_response())
}
