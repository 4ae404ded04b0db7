//! The admin's Public access page (`/admin/reach`): the box's domain, each service's public
//! name, how certificates are obtained, the certificate and its last attempt. The page is
//! part of the admin UI, which the proxy never serves under a public name.

use super::PageActor;
use super::{Layout, PageError, check_csrf, render};
use crate::access::Access;
use crate::admins::Actor;
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::reach::{AcmeChange, Reach, ReachError, ReachView};
use crate::status::Status;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "reach.html")]
struct ReachPage {
    t: &'static Messages,
    layout: Layout,
    view: ReachView,
    message: String,
    error: String,
}

impl ReachPage {
    fn time(&self, at: &i64) -> String {
        crate::http::time::format_time(*at)
    }
    fn dns01(&self) -> bool {
        self.view.challenge == crate::reach::Challenge::Dns01
    }
}

fn page(
    reach: &Reach,
    access: &Access,
    status: &Status,
    actor: &Actor,
    t: &'static Messages,
    message: String,
    error: String,
) -> Result<Response, PageError> {
    let view = reach
        .view(&access.route_names())
        .map_err(|e| PageError::new(e, t.language))?;
    let layout = Layout::new(
        t,
        "reach.title",
        "/admin/reach",
        status.box_name().as_deref(),
    )
    .for_admin(t, actor);
    Ok(render(&ReachPage {
        t,
        layout,
        view,
        message,
        error,
    }))
}

pub async fn reach_page(
    PageActor(actor): PageActor,
    State(reach): State<Reach>,
    State(access): State<Access>,
    State(status): State<Status>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    page(
        &reach,
        &access,
        &status,
        &actor,
        t,
        String::new(),
        String::new(),
    )
}

pub async fn reach_submit(
    PageActor(actor): PageActor,
    State(reach): State<Reach>,
    State(access): State<Access>,
    State(status): State<Status>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let opt = |k: &str| form.get(k).cloned();
    check_csrf(
        &field("csrf"),
        actor.session().map_or("", |s| s.csrf.as_str()),
    )
    .map_err(|e| PageError::new(e, t.language))?;
    let result = match field("action").as_str() {
        "domain" => reach.set_domain(&actor, Some(&field("domain"))),
        "clear_domain" => reach.set_domain(&actor, None),
        "name" => reach.set_name(&actor, &field("app"), Some(&field("host"))),
        "default_name" => reach.set_name(&actor, &field("app"), None),
        "acme" => reach.set_acme(
            &actor,
            AcmeChange {
                directory: opt("directory"),
                contact: opt("contact"),
                challenge: opt("challenge"),
                dns_server: opt("dns_server"),
                dns_zone: opt("dns_zone"),
                tsig_name: opt("tsig_name"),
                tsig_algorithm: opt("tsig_algorithm"),
                // An empty secret field keeps the stored one (it is never shown back).
                tsig_secret: opt("tsig_secret").filter(|s| !s.trim().is_empty()),
            },
        ),
        _ => {
            return Err(PageError::new(
                ApiError::BadRequest("unknown action".into()),
                t.language,
            ));
        }
    };
    match result {
        Ok(()) => page(
            &reach,
            &access,
            &status,
            &actor,
            t,
            t.get("reach.saved").to_owned(),
            String::new(),
        ),
        Err(ReachError::Store(e)) => Err(PageError::new(e, t.language)),
        Err(e) => {
            let fallback = e.to_string();
            let said = t.error(e.key(), &fallback).to_owned();
            page(&reach, &access, &status, &actor, t, String::new(), said)
        }
    }
}
