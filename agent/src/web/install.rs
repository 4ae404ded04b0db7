//! The setup wizard's install page (`/admin/setup/install`), linked from the setup page when
//! the box started from a Panier USB stick: setup code, internal disk, the new box's name and
//! the disk's serial typed again; then the live progress (meta refresh, no JavaScript), then
//! the result: the new box's name and setup code, the sheet's link, and "Restart now" with the
//! instruction to remove the stick first.
//!
//! The setup code proves the visitor is at the box (it is on its screen); once proved, the
//! browser gets a token in an HttpOnly, SameSite=Strict cookie (`panier_install`) that lets it
//! follow the install, see the new setup code and the sheet, and restart. Without it the page
//! shows only the step and the percentage, and asks for the code to see more.

use super::{Layout, PageError, render};
use crate::admins::Admins;
use crate::http::ApiError;
use crate::http::cookie::cookie;
use crate::http::extract::{ClientIp, Https};
use crate::http::language::anonymous_language;
use crate::i18n::{Messages, messages};
use crate::install::{Install, InstallView, Outcome, StartRequest};
use crate::names::BoxName;
use crate::status::Status;
use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;

pub const COOKIE: &str = "panier_install";
const PATH: &str = "/admin/setup/install";

pub struct TargetRow {
    pub path: String,
    pub label: String,
    pub serial: String,
    pub too_small: bool,
}

pub struct JobBox {
    pub running: bool,
    pub failed: bool,
    pub succeeded: bool,
    pub state: String,
    pub step: String,
    pub percent: i64,
    pub message: String,
}

#[derive(Template)]
#[template(path = "setup_install.html")]
struct InstallPage {
    t: &'static Messages,
    layout: Layout,
    offered: bool,
    not_offered: String,
    targets: Vec<TargetRow>,
    followed: bool,
    job: Option<JobBox>,
    lines: Vec<String>,
    outcome: Option<Outcome>,
    restart_csrf: String,
    restarting: bool,
    form_error: String,
    values: HashMap<String, String>,
}

impl InstallPage {
    fn value(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }
    fn busy(&self) -> bool {
        self.job.as_ref().is_some_and(|j| j.running)
    }
    fn secs(&self, s: &f64) -> String {
        format!("{s:.0} s")
    }
}

fn restart_csrf(token: &str) -> String {
    crate::auth::token_hash(&format!("{token}:restart"))
}

/// The page for `view`, as the visitor may see it.
fn page(t: &'static Messages, view: InstallView, token: Option<&str>) -> InstallPage {
    let followed = token.is_some();
    let job = view.job.as_ref().map(|j| JobBox {
        running: j.state == "running",
        failed: j.state == "failed" || j.state == "interrupted",
        succeeded: j.state == "succeeded",
        state: t.get(&format!("apps.job_state.{}", j.state)).to_owned(),
        step: t
            .get(&format!(
                "install.step.{}",
                if j.step.is_empty() {
                    "begin"
                } else {
                    j.step.as_str()
                }
            ))
            .to_owned(),
        percent: j.percent,
        message: if t.code() == "fr" && !j.message_fr.is_empty() {
            j.message_fr.clone()
        } else {
            j.message.clone()
        },
    });
    let targets = view
        .targets
        .iter()
        .map(|d| TargetRow {
            path: d.path.clone(),
            label: format!(
                "{} — {} — {}",
                d.path,
                d.model.clone().unwrap_or_default(),
                panier_hw::html::human_bytes(d.size_bytes)
            ),
            serial: d.serial.clone(),
            too_small: d.too_small,
        })
        .collect();
    InstallPage {
        t,
        layout: Layout::new(t, "install.title", PATH, None),
        offered: view.offered,
        not_offered: view
            .not_offered
            .map(|k| t.get(&format!("install.not_offered.{k}")).to_owned())
            .unwrap_or_default(),
        targets,
        followed,
        job,
        lines: if followed { view.lines } else { Vec::new() },
        outcome: if followed { view.outcome } else { None },
        restart_csrf: token.map(restart_csrf).unwrap_or_default(),
        restarting: false,
        form_error: String::new(),
        values: HashMap::new(),
    }
}

async fn view_of(install: &Install) -> Result<InstallView, ApiError> {
    let install = install.clone();
    Ok(tokio::task::spawn_blocking(move || install.view())
        .await
        .expect("install view")?)
}

/// The visitor's install token, if it is one this agent granted.
fn token_of<'a>(parts: &'a axum::http::request::Parts, install: &Install) -> Option<&'a str> {
    cookie(&parts.headers, COOKIE).filter(|t| install.granted(t))
}

pub async fn show(
    State(admins): State<Admins>,
    State(install): State<Install>,
    State(status): State<Status>,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, _) = req.into_parts();
    let t = messages(anonymous_language(&parts, status.box_language()));
    let token = token_of(&parts, &install);
    if token.is_none()
        && admins
            .setup_done()
            .map_err(|e| PageError::new(e, t.language))?
    {
        return Ok(Redirect::to("/admin/login").into_response());
    }
    let view = view_of(&install)
        .await
        .map_err(|e| PageError::new(e, t.language))?;
    Ok(render(&page(t, view, token)))
}

/// One form endpoint: `action` is `start`, `show` (the code, to follow an install) or `restart`.
pub async fn submit(
    State(admins): State<Admins>,
    State(install): State<Install>,
    State(status): State<Status>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, body) = req.into_parts();
    let t = messages(anonymous_language(&parts, status.box_language()));
    let Form(form): Form<HashMap<String, String>> =
        Form::from_request(Request::from_parts(parts.clone(), body), &())
            .await
            .map_err(|e| PageError::new(ApiError::BadRequest(e.body_text()), t.language))?;
    let field = |k: &str| {
        form.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let token = token_of(&parts, &install).map(str::to_owned);
    let actor = format!("anonymous@{ip}");
    let result: Result<Option<String>, ApiError> = async {
        match field("action").as_str() {
            "restart" => {
                let token = token.as_deref().ok_or(ApiError::Forbidden)?;
                if !crate::auth::same_token(&field("csrf"), &restart_csrf(token)) {
                    return Err(ApiError::Csrf);
                }
                install.restart(&actor)?;
                Ok(None)
            }
            "show" => {
                admins.check_setup_code(&field("code"), ip, "install")?;
                Ok(Some(install.grant()))
            }
            _ => {
                admins.check_setup_code(&field("code"), ip, "install")?;
                let box_name = BoxName::parse(&field("box_name"))
                    .map_err(|e| ApiError::BadRequest(t.error(e.key, &e.message).to_owned()))?;
                let request = StartRequest {
                    target: field("target"),
                    confirm: field("confirm"),
                    box_name,
                    language: t.language,
                };
                let (i, a) = (install.clone(), actor.clone());
                tokio::task::spawn_blocking(move || i.start(&a, request))
                    .await
                    .expect("install start")?;
                Ok(Some(install.grant()))
            }
        }
    }
    .await;
    match result {
        Ok(Some(new_token)) => {
            let secure = if parts.extensions.get::<Https>().is_some() {
                "; Secure"
            } else {
                ""
            };
            let cookie =
                format!("{COOKIE}={new_token}; Path={PATH}; HttpOnly; SameSite=Strict{secure}");
            let mut r = Redirect::to(PATH).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("ASCII"),
            );
            Ok(r)
        }
        Ok(None) => {
            let view = view_of(&install)
                .await
                .map_err(|e| PageError::new(e, t.language))?;
            let mut p = page(t, view, token.as_deref());
            p.restarting = true;
            Ok(render(&p))
        }
        Err(e) => {
            let (code, key) = e.status_and_key();
            let view = view_of(&install)
                .await
                .map_err(|e| PageError::new(e, t.language))?;
            let mut p = page(t, view, token.as_deref());
            p.form_error = match &e {
                ApiError::BadRequest(m) => m.clone(),
                other => t.error(key, &other.to_string()).to_owned(),
            };
            p.values = form.into_iter().filter(|(k, _)| k != "code").collect();
            let mut r = render(&p);
            *r.status_mut() = if code == StatusCode::UNAUTHORIZED {
                StatusCode::FORBIDDEN
            } else {
                code
            };
            Ok(r)
        }
    }
}

/// The last install's sheet, for the browser that followed it.
pub async fn sheet(
    State(install): State<Install>,
    State(status): State<Status>,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, _) = req.into_parts();
    let language = anonymous_language(&parts, status.box_language());
    if token_of(&parts, &install).is_none() {
        return Ok(Redirect::to(PATH).into_response());
    }
    Ok(Html(install.sheet().map_err(|e| PageError::new(e, language))?).into_response())
}
