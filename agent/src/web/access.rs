//! The admin's Access page (`/admin/access`) and the handle behind it and `/api/v1/access`:
//! how services are reached (names, fixed ports), mDNS name conflicts, the authority's
//! fingerprint, and the public portal's texts and logo.

use super::PageActor;
use super::{Layout, PageError, check_csrf, render};
use crate::admins::Actor;
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::names::Language;
use crate::proxy::Proxy;
use crate::status::Status;
use crate::store::{MdnsRename, NewAudit, PortalTexts, StoreError};
use crate::tls::Tls;
use askama::Template;
use axum::Form;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use std::collections::HashMap;

pub const MAX_LOGO: usize = 512 << 10;
const MAX_TITLE: usize = 120;
const MAX_INTRO: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("a portal text is too long (title: {MAX_TITLE} characters, introduction: {MAX_INTRO})")]
    TextTooLong,
    #[error("the logo must be a PNG, JPEG, SVG or WebP image of at most 512 KiB")]
    InvalidLogo,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How one service is reached.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceAccess {
    pub name: String,
    pub title: crate::proxy::Text,
    /// `http://<host>/` and `https://<host>/` work once the name resolves.
    pub host: String,
    /// The fixed port, for clients without mDNS (`http://<box address>:<port>/`).
    pub port: Option<u16>,
    /// Why the service does not work on its fixed port, when it does not (that port then
    /// says so instead of forwarding).
    pub fixed_port_refusal: Option<crate::proxy::Text>,
    /// Why the service keeps the address it was installed with (its address is part of its
    /// data), when it does: renaming the box or an mDNS rename does not move it.
    pub address_kept: Option<crate::proxy::Text>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessReport {
    pub box_host: String,
    pub services: Vec<ServiceAccess>,
    /// Names another device took, and what the box announces instead.
    pub renames: Vec<MdnsRename>,
    /// The LAN interface names are announced on (none: mDNS is off).
    pub mdns_interface: Option<String>,
    /// SHA-256 of the box's certificate authority (none: HTTPS is off).
    pub ca_fingerprint: Option<String>,
}

/// The Access domain's handle.
#[derive(Clone)]
pub struct Access {
    proxy: Proxy,
    tls: Option<Tls>,
    mdns_interface: Option<String>,
}

fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if std::str::from_utf8(&bytes[..bytes.len().min(1024)]).is_ok_and(|s| s.contains("<svg"))
    {
        Some("image/svg+xml")
    } else {
        None
    }
}

impl Access {
    pub fn new(proxy: Proxy, tls: Option<Tls>, mdns_interface: Option<String>) -> Access {
        Access {
            proxy,
            tls,
            mdns_interface,
        }
    }

    pub fn report(&self) -> Result<AccessReport, StoreError> {
        let table = self.proxy.table();
        Ok(AccessReport {
            box_host: table.box_host.clone(),
            services: table
                .routes
                .iter()
                .map(|p| ServiceAccess {
                    name: p.route.name.clone(),
                    title: p.route.title.clone(),
                    host: p.host.clone(),
                    port: p.port,
                    fixed_port_refusal: p.route.fixed_port_refusal.clone(),
                    address_kept: p.route.address_kept.clone(),
                })
                .collect(),
            renames: self.proxy.store().mdns_renames()?,
            mdns_interface: self.mdns_interface.clone(),
            ca_fingerprint: self.tls.as_ref().map(|t| t.ca_fingerprint()),
        })
    }

    pub fn texts(&self, language: Language) -> Result<PortalTexts, StoreError> {
        Ok(self
            .proxy
            .store()
            .portal_texts(language.code())?
            .unwrap_or_default())
    }

    fn audit(actor: &Actor, action: &'static str, target: &str) -> NewAudit {
        NewAudit {
            actor: actor.audit_name(),
            action,
            target: target.to_owned(),
            result: "ok",
            detail: String::new(),
        }
    }

    pub fn set_texts(
        &self,
        actor: &Actor,
        language: Language,
        texts: PortalTexts,
    ) -> Result<(), AccessError> {
        let texts = PortalTexts {
            title: texts.title.trim().to_owned(),
            intro: texts.intro.trim().to_owned(),
        };
        if texts.title.chars().count() > MAX_TITLE || texts.intro.chars().count() > MAX_INTRO {
            return Err(AccessError::TextTooLong);
        }
        self.proxy.store().set_portal_texts(
            language.code(),
            &texts,
            &Self::audit(actor, "portal_texts", language.code()),
        )?;
        Ok(())
    }

    pub fn set_logo(&self, actor: &Actor, bytes: Option<&[u8]>) -> Result<(), AccessError> {
        let logo = match bytes {
            Some(b) if b.len() <= MAX_LOGO => {
                Some((sniff_image(b).ok_or(AccessError::InvalidLogo)?, b))
            }
            Some(_) => return Err(AccessError::InvalidLogo),
            None => None,
        };
        let action = if logo.is_some() {
            "portal_logo_set"
        } else {
            "portal_logo_remove"
        };
        self.proxy
            .store()
            .set_portal_logo(logo, &Self::audit(actor, action, "portal"))?;
        Ok(())
    }

    /// Forgets the renames so the original names are tried again (the other device left).
    pub fn clear_renames(&self, actor: &Actor) -> Result<(), AccessError> {
        self.proxy.store().clear_mdns_renames()?;
        self.proxy
            .store()
            .record(&Self::audit(actor, "mdns_renames_clear", "mdns"))?;
        self.proxy.wake();
        Ok(())
    }
}

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
