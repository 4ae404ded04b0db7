//! The Health page: every check of the health centre with its state, what it means and what
//! to do, in the admin's language; it reloads itself every minute.

use super::{Layout, PageError, render};
use crate::health::Health;
use crate::http::extract::SessionActor;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::status::Status;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

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
}

pub async fn page(
    SessionActor(actor): SessionActor,
    State(status): State<Status>,
    State(health): State<Health>,
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
    Ok(render(&HealthPage {
        t,
        layout,
        checks,
        checked_at: crate::http::time::format_time(crate::store::now()),
    }))
}
