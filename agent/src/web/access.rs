//! The admin's Access page (`/admin/access`): how services are reached (names, fixed ports),
//! mDNS name conflicts, the authority's fingerprint, and the public portal's texts and logo,
//! over the [`Access`] domain handle (`crate::access`).

use super::PageActor;
use super::{Layout, PageError, check_csrf, render};
use crate::access::{Access, AccessError, AccessReport};
use crate::admins::Actor;
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::names::Language;
use crate::status::Status;
use crate::store::{MdnsRename, PortalTexts, StoreError};
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    t: &'static Messages,
    layout: Layout,
    report: AccessReport,
    fr: PortalTexts,
    en: PortalTexts,
    address: String,
    message: String,
    error: String,
}

impl AccessPage {
    fn conflict(&self, r: &MdnsRename) -> String {
        self.t.fmt(
            "access.conflict_text",
            &[("wanted", &r.wanted), ("announced", &r.announced)],
        )
    }
    fn address_kept_note(&self, why: &crate::proxy::Text) -> String {
        self.t.fmt(
            "catalog.address_kept",
            &[("reason", why.get(self.t.language))],
        )
    }
    fn fixed_port_note(&self, why: &crate::proxy::Text) -> String {
        self.t.fmt(
            "catalog.fixed_port_does_not",
            &[("reason", why.get(self.t.language))],
        )
    }
    fn portal_text(&self) -> String {
        self.t
            .fmt("access.portal_text", &[("host", &self.report.box_host)])
    }
}

fn page(
    access: &Access,
    status: &Status,
    actor: &Actor,
    t: &'static Messages,
    message: String,
    error: String,
) -> Result<Response, PageError> {
    let e = |e: StoreError| PageError::new(e, t.language);
    let report = access.report().map_err(e)?;
    let layout = Layout::new(
        t,
        "access.title",
        "/admin/access",
        status.box_name().as_deref(),
    )
    .for_admin(t, actor);
    let address = crate::system::read(status.data_dir())
        .addresses
        .first()
        .cloned()
        .unwrap_or_else(|| "…".into());
    let (fr, en) = (
        access.texts(Language::Fr).map_err(e)?,
        access.texts(Language::En).map_err(e)?,
    );
    Ok(render(&AccessPage {
        t,
        layout,
        report,
        fr,
        en,
        address,
        message,
        error,
    }))
}

pub async fn access_page(
    PageActor(actor): PageActor,
    State(access): State<Access>,
    State(status): State<Status>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    page(&access, &status, &actor, t, String::new(), String::new())
}

pub async fn access_submit(
    PageActor(actor): PageActor,
    State(access): State<Access>,
    State(status): State<Status>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    check_csrf(
        &field("csrf"),
        actor.session().map_or("", |s| s.csrf.as_str()),
    )
    .map_err(|e| PageError::new(e, t.language))?;
    let result = match field("action").as_str() {
        "texts" => access
            .set_texts(
                &actor,
                Language::Fr,
                PortalTexts {
                    title: field("title_fr"),
                    intro: field("intro_fr"),
                },
            )
            .and_then(|_| {
                access.set_texts(
                    &actor,
                    Language::En,
                    PortalTexts {
                        title: field("title_en"),
                        intro: field("intro_en"),
                    },
                )
            }),
        "clear_renames" => access.clear_renames(&actor),
        "remove_logo" => access.set_logo(&actor, None),
        _ => {
            return Err(PageError::new(
                ApiError::BadRequest("unknown action".into()),
                t.language,
            ));
        }
    };
    match result {
        Ok(()) => page(
            &access,
            &status,
            &actor,
            t,
            t.get("access.saved").to_owned(),
            String::new(),
        ),
        Err(AccessError::TextTooLong) => page(
            &access,
            &status,
            &actor,
            t,
            String::new(),
            t.get("access.text_too_long").to_owned(),
        ),
        Err(e) => Err(PageError::new(e, t.language)),
    }
}

/// `POST /admin/access/logo` (multipart: `csrf`, `logo`).
pub async fn logo_submit(
    PageActor(actor): PageActor,
    State(access): State<Access>,
    State(status): State<Status>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let bad = |m: String| PageError::new(ApiError::BadRequest(m), t.language);
    let (mut csrf, mut logo) = (String::new(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.body_text()))?
    {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|e| bad(e.body_text()))?,
            Some("logo") => logo = Some(field.bytes().await.map_err(|e| bad(e.body_text()))?),
            _ => {}
        }
    }
    check_csrf(&csrf, actor.session().map_or("", |s| s.csrf.as_str()))
        .map_err(|e| PageError::new(e, t.language))?;
    match access.set_logo(&actor, logo.as_deref()) {
        Ok(()) => Ok(Redirect::to("/admin/access").into_response()),
        Err(AccessError::InvalidLogo) => page(
            &access,
            &status,
            &actor,
            t,
            String::new(),
            t.get("access.logo_invalid").to_owned(),
        ),
        Err(e) => Err(PageError::new(e, t.language)),
    }
}
