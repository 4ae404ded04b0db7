//! A service's page: state, health, memory per container, address, recent logs, the buttons
//! (start, stop, restart, update, uninstall, delete the data) and its latest job.
//!
//! Every button goes through the same domain functions as the API ([`Apps::action`],
//! [`Apps::remove_audited`]), which audit. While a job runs, the page reloads itself every
//! two seconds (`<meta http-equiv="refresh">`): progress is live without any JavaScript.
//! A second job while one runs is refused by the domain; the page says so in plain words.
//!
//! A service that is not installed (uninstalled, or never) still has a page: its last job's
//! result, and, if its data was kept, the form that deletes it.

use super::{Layout, PageActor, PageError, check_csrf, render};
use crate::admins::Actor;
use crate::apps::{AppError, AppStatus, Apps};
use crate::catalog::AppId;
use crate::engine::HealthState;
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::http::time::format_time;
use crate::i18n::{Messages, messages};
use crate::status::Status;
use crate::store::JobRow;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// An error (of the services domain or not) in the admin's language, with the domain's
/// details where the words need them (the status code stays `ApiError::status_and_key`'s).
pub fn error_message(t: &Messages, e: &ApiError) -> String {
    let ApiError::App(app_error) = e else {
        let (_, key) = e.status_and_key();
        return t.error(key, &e.to_string()).to_owned();
    };
    crate::apps::failure::describe(t, app_error)
}

fn job_kind(t: &Messages, kind: &str) -> String {
    t.get(&format!("apps.job.{kind}")).to_owned()
}

/// The words for a service's overall state (`running`, `stopped`, `installing`…).
pub fn state_label(t: &Messages, state: &str) -> String {
    t.get(&format!("apps.state.{state}")).to_owned()
}

pub struct ContainerRow {
    pub name: String,
    pub status: String,
    pub health: String,
    pub memory: String,
    pub cpu: String,
}

pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub running: bool,
    pub failed: bool,
    pub state: String,
    pub step: String,
    pub percent: i64,
    pub message: String,
    pub started: String,
    pub actor: String,
}

fn job_view(t: &Messages, j: &JobRow) -> JobView {
    JobView {
        id: j.id,
        kind: job_kind(t, &j.kind),
        running: j.state == "running",
        failed: j.state == "failed" || j.state == "interrupted",
        state: t.get(&format!("apps.job_state.{}", j.state)).to_owned(),
        step: t
            .get(&format!(
                "apps.step.{}",
                if j.step.is_empty() {
                    "begin"
                } else {
                    j.step.as_str()
                }
            ))
            .to_owned(),
        percent: j.percent,
        message: match (j.state.as_str(), t.code()) {
            ("interrupted", _) => String::new(),
            (_, "fr") if !j.message_fr.is_empty() => j.message_fr.clone(),
            _ => j.message.clone(),
        },
        started: format_time(j.started_at),
        actor: j.actor.clone(),
    }
}

/// The engine's word for a container's state, in the admin's language when it is a known one.
fn container_state(t: &Messages, status: &str) -> String {
    let key = format!("apps.container_state.{status}");
    match t.get(&key) {
        text if text == key => status.to_owned(),
        text => text.to_owned(),
    }
}

fn health_key(h: HealthState) -> &'static str {
    match h {
        HealthState::None => "none",
        HealthState::Starting => "starting",
        HealthState::Healthy => "healthy",
        HealthState::Unhealthy => "unhealthy",
    }
}

/// One decimal, with the language's decimal separator.
fn decimal(t: &Messages, value: f64) -> String {
    let s = format!("{value:.1}");
    if t.code() == "fr" {
        s.replace('.', ",")
    } else {
        s
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1u64 << 20) as f64)
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    t: &'static Messages,
    layout: Layout,
    id: String,
    app: Option<AppStatus>,
    state: String,
    state_text: String,
    /// Installed and settled: start, stop, restart and update make sense.
    settled: bool,
    containers: Vec<ContainerRow>,
    logs: Vec<String>,
    logs_error: String,
    job: Option<JobView>,
    kept_data: bool,
    form_error: String,
}

impl AppPage {
    /// Containers killed for memory in the last day, said for the admin.
    fn oom_text(&self) -> Option<String> {
        let a = self.app.as_ref()?;
        let kills = &a.incidents.oom_kills;
        let last = kills.last()?;
        Some(self.t.fmt(
            "apps.oom_kills",
            &[
                ("count", &kills.len().to_string()),
                ("container", &last.container),
                ("time", &crate::http::time::format_time(last.at)),
            ],
        ))
    }

    /// Crash restarts in the last day.
    fn restarts_text(&self) -> Option<String> {
        let a = self.app.as_ref()?;
        let n = a.incidents.restarts.len();
        (n > 0).then(|| {
            self.t
                .fmt("apps.crash_restarts", &[("count", &n.to_string())])
        })
    }

    /// Reload while something is moving: a running job, or a service on its way.
    fn refresh(&self) -> bool {
        self.job.as_ref().is_some_and(|j| j.running)
            || matches!(
                self.state.as_str(),
                "installing" | "updating" | "removing" | "starting"
            )
    }
}

async fn app_view(
    t: &'static Messages,
    actor: &Actor,
    apps: &Apps,
    status: &Status,
    id: &str,
    form_error: String,
) -> Result<Response, ApiError> {
    let app = AppId::parse(id).map_err(|e| ApiError::BadRequest(e.message))?;
    let path = format!("/admin/apps/{app}");
    let mut layout = Layout::new(t, "apps.catalog_title", &path, status.box_name().as_deref())
        .for_admin(t, actor);
    // The job first: a job seen finished is then always followed by the state it left (read
    // the other way round, a stop ending in between left the page on "running" for good).
    let last_job = apps.jobs().list(Some(&app), 1)?.pop();
    let view = match apps.status(&app, t.language).await {
        Ok(v) => Some(v),
        Err(AppError::NotInstalled(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if view.is_none() && last_job.is_none() && !apps.has_kept_data(&app) {
        // Never installed here: its catalog page is where to go.
        return Err(ApiError::App(AppError::NotInstalled(app)));
    }
    layout.title = match &view {
        Some(v) => v.name.clone(),
        None => apps
            .catalog_card(app.as_str(), t.language)
            .map(|c| c.name)
            .unwrap_or_else(|_| app.to_string()),
    };
    let (mut logs, mut logs_error) = (Vec::new(), String::new());
    let mut containers = Vec::new();
    let mut state = "not_installed".to_owned();
    if let Some(v) = &view {
        state = v.state.clone();
        containers = v
            .containers
            .iter()
            .map(|c| ContainerRow {
                name: c.name.clone(),
                status: container_state(t, &c.status),
                health: t
                    .get(&format!("apps.health.{}", health_key(c.health)))
                    .to_owned(),
                memory: match c.memory_bytes {
                    Some(b) => t.fmt(
                        "apps.memory_of",
                        &[("used", &mib(b)), ("limit", &mib(c.memory_limit_bytes))],
                    ),
                    None => t.fmt(
                        "apps.memory_unknown",
                        &[("limit", &mib(c.memory_limit_bytes))],
                    ),
                },
                cpu: match c.cpu_percent {
                    Some(p) => t.fmt("apps.cpu_of", &[("percent", &decimal(t, p))]),
                    None => t.get("apps.cpu_unknown").to_owned(),
                },
            })
            .collect();
        if v.phase == crate::store::Phase::Installed {
            match apps.logs(&app, 30).await {
                Ok(l) => logs = l,
                Err(e) => logs_error = error_message(t, &e.into()),
            }
        }
    }
    let page = AppPage {
        t,
        layout,
        id: app.to_string(),
        state_text: state_label(t, &state),
        settled: view
            .as_ref()
            .is_some_and(|v| v.phase == crate::store::Phase::Installed),
        state,
        containers,
        logs,
        logs_error,
        job: last_job.as_ref().map(|j| job_view(t, j)),
        kept_data: view.is_none() && apps.has_kept_data(&app),
        app: view,
        form_error,
    };
    Ok(render(&page))
}

pub async fn page(
    PageActor(actor): PageActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    app_view(t, &actor, &apps, &status, &id, String::new())
        .await
        .map_err(|e| PageError::new(e, t.language))
}

/// The service page's buttons: `action` = start, stop, restart, update, remove (keeps the
/// data) or delete_data (with `confirm` = the service's id, typed by the admin).
pub async fn submit(
    PageActor(actor): PageActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let lang = t.language;
    let field = |k: &str| {
        form.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    check_csrf(&field("csrf"), &session.csrf).map_err(|e| PageError::new(e, lang))?;
    let app =
        AppId::parse(&id).map_err(|e| PageError::new(ApiError::BadRequest(e.message), lang))?;
    let who = actor.audit_name();
    let action = field("action");
    let result: Result<i64, ApiError> = match action.as_str() {
        "remove" => apps
            .remove_audited(&app, false, None, &who)
            .map_err(Into::into),
        "delete_data" => apps
            .remove_audited(&app, true, Some(&field("confirm")), &who)
            .map_err(Into::into),
        other => match apps.action(&app, other, &who) {
            Some(r) => r.map_err(Into::into),
            None => Err(ApiError::BadRequest(format!("unknown action '{other}'"))),
        },
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/apps/{app}")).into_response()),
        Err(e) => {
            let (code, _) = e.status_and_key();
            let message = error_message(t, &e);
            // The service's page with the message on top; if there is no page to show (a
            // service never installed here), the message alone.
            let mut r = match app_view(t, &actor, &apps, &status, &id, message.clone()).await {
                Ok(r) => r,
                Err(_) => super::error_page(t, code, &message),
            };
            *r.status_mut() = code;
            Ok(r)
        }
    }
}

/// An installed service as the dashboard lists it.
pub struct InstalledView {
    pub id: String,
    pub name: String,
    pub state: String,
    pub running: bool,
    pub url: Option<String>,
}

pub fn installed(t: &Messages, apps: &Apps) -> Vec<InstalledView> {
    apps.list(t.language)
        .into_iter()
        .map(|a| InstalledView {
            id: a.id.to_string(),
            name: a.name,
            running: a.state == "running",
            state: state_label(t, &a.state),
            url: a.url,
        })
        .collect()
}
