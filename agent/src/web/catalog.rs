//! The Catalog page (one grid of cards across categories, each with its icon, need, resources,
//! whether it fits on this box now, installed or not; links filter it by need, `?need=files`,
//! without JavaScript) and each service's page (its description and the install form made from
//! the manifest's typed settings).
//!
//! Everything shown comes from [`Apps::catalog_cards`] (the same view as `GET
//! /api/v1/catalog`, which reads the real free memory and disk); installing goes through
//! [`Apps::install_audited`], like `POST /api/v1/apps`. A refused setting is shown next to its
//! field, in the admin's language, from the domain's [`SettingError`] key.

use super::apps::error_message;
use super::markdown;
use super::{Layout, PageActor, PageError, check_csrf, render};
use crate::admins::Actor;
use crate::apps::{AppError, Apps, CatalogCard};
use crate::catalog::{Category, SettingType};
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::status::Status;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::{BTreeMap, HashMap};

/// One need of the catalog page's filter: a category with at least one service.
pub struct NeedView {
    /// The category's key, `?need=<key>`.
    pub key: &'static str,
    pub count: usize,
    pub current: bool,
}

#[derive(serde::Deserialize)]
pub struct CatalogQuery {
    #[serde(default)]
    need: String,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    t: &'static Messages,
    layout: Layout,
    /// The filter's needs, in the catalog's order of categories.
    needs: Vec<NeedView>,
    /// How many services the catalog has in all.
    total: usize,
    /// The chosen need is not one of the filter's: every card is shown.
    all: bool,
    cards: Vec<CatalogCard>,
    room: String,
    offline: Option<super::packs::OfflineView>,
}

fn mib(t: &Messages, mb: Option<u64>) -> String {
    match mb {
        // French writes a decimal comma.
        Some(mb) if mb >= 1024 => t.fmt(
            "apps.gib",
            &[(
                "n",
                &format!("{:.1}", mb as f64 / 1024.0).replace('.', t.get("apps.decimal_point")),
            )],
        ),
        Some(mb) => t.fmt("apps.mib", &[("n", &mb.to_string())]),
        None => "—".into(),
    }
}

impl CatalogPage {
    fn needs(&self, c: &CatalogCard) -> String {
        self.t.fmt(
            "apps.needs",
            &[
                ("memory", &mib(self.t, Some(c.memory_mb))),
                ("disk", &mib(self.t, Some(c.disk_mb))),
            ],
        )
    }
    fn category_title(&self, key: &str) -> String {
        self.t.get(&format!("apps.category.{key}")).to_owned()
    }
    fn need_link(&self, n: &NeedView) -> String {
        self.t.fmt(
            "apps.filter_need",
            &[
                ("need", &self.category_title(n.key)),
                ("count", &n.count.to_string()),
            ],
        )
    }
    fn all_link(&self) -> String {
        self.t
            .fmt("apps.filter_all", &[("count", &self.total.to_string())])
    }
    /// The stick whose usable pack carries this service, if one is plugged in.
    fn on_stick(&self, c: &CatalogCard) -> String {
        let Some(o) = &self.offline else {
            return String::new();
        };
        o.view
            .sticks
            .iter()
            .find(|s| s.usable && s.services.iter().any(|x| x.id == c.id))
            .map(|s| {
                self.t.fmt(
                    "packs.on_stick",
                    &[("stick", s.label.as_deref().unwrap_or(&s.device))],
                )
            })
            .unwrap_or_default()
    }
    fn packed_version(&self, c: &CatalogCard) -> String {
        self.t.fmt("packs.from_pack", &[("version", &c.version)])
    }
    fn key_origin(&self, k: &crate::signing::keyring::TrustedKey) -> String {
        match &k.origin {
            crate::signing::keyring::Origin::Image { .. } => {
                self.t.get("packs.key_image").to_owned()
            }
            crate::signing::keyring::Origin::Enrolled { by, .. } => {
                self.t.fmt("packs.key_enrolled", &[("by", by)])
            }
        }
    }
}

pub async fn page(
    PageActor(actor): PageActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Query(query): Query<CatalogQuery>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let t = messages(lang);
    let a = apps.clone();
    let (cards, offline) =
        tokio::task::spawn_blocking(move || (a.catalog_cards(lang), super::packs::offline(&a, t)))
            .await
            .map_err(|e| PageError::new(ApiError::BadRequest(e.to_string()), lang))?;
    let room = cards
        .first()
        .map(|c| {
            t.fmt(
                "apps.room_now",
                &[
                    ("memory", &mib(t, c.memory_available_mb)),
                    ("disk", &mib(t, c.disk_free_mb)),
                ],
            )
        })
        .unwrap_or_default();
    let needs: Vec<NeedView> = Category::ALL
        .iter()
        .map(|cat| NeedView {
            key: cat.key(),
            count: cards.iter().filter(|c| c.category == *cat).count(),
            current: query.need == cat.key(),
        })
        .filter(|n| n.count > 0)
        .collect();
    let all = !needs.iter().any(|n| n.current);
    let total = cards.len();
    // The grid follows the catalog's order of categories, whatever the manifests' order.
    let cards = Category::ALL
        .iter()
        .filter(|cat| all || query.need == cat.key())
        .flat_map(|cat| cards.iter().filter(move |c| c.category == *cat).cloned())
        .collect();
    let layout = Layout::new(
        t,
        "apps.catalog_title",
        "/admin/catalog",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    Ok(render(&CatalogPage {
        t,
        layout,
        needs,
        total,
        all,
        cards,
        room,
        offline,
    }))
}

/// The icon of a catalog entry, as an image (an `<img>` never runs an SVG's scripts; the
/// policy header forbids them when the file is opened on its own).
pub async fn icon(_: PageActor, State(apps): State<Apps>, Path(id): Path<String>) -> Response {
    match apps.icon(&id) {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            svg,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A field of the install form, with what was typed and its problem.
pub struct FieldView {
    pub name: String,
    pub kind: &'static str,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub value: String,
    pub choices: Vec<String>,
    pub min: String,
    pub max: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "catalog_entry.html")]
struct EntryPage {
    t: &'static Messages,
    layout: Layout,
    card: CatalogCard,
    page_html: String,
    fields: Vec<FieldView>,
    form_error: String,
    memory: String,
    disk: String,
}

fn kind(k: SettingType) -> &'static str {
    match k {
        SettingType::String => "string",
        SettingType::Password => "password",
        SettingType::Boolean => "boolean",
        SettingType::Choice => "choice",
        SettingType::Number => "number",
    }
}

/// The words for a refused setting, in the admin's language.
fn entry_view(
    t: &'static Messages,
    actor: &Actor,
    status: &Status,
    card: CatalogCard,
    typed: &BTreeMap<String, String>,
    problem: Option<(String, String)>,
    form_error: String,
) -> EntryPage {
    let fields = card
        .settings
        .iter()
        .map(|s| {
            let kind = kind(s.kind);
            // A password is never sent back to the browser.
            let value = if kind == "password" {
                String::new()
            } else {
                typed
                    .get(&s.name)
                    .cloned()
                    .unwrap_or_else(|| s.default.clone())
            };
            FieldView {
                name: s.name.clone(),
                kind,
                label: s.label.clone(),
                help: s.help.clone(),
                required: s.required,
                value,
                choices: s.choices.clone(),
                min: s.min.map(|v| v.to_string()).unwrap_or_default(),
                max: s.max.map(|v| v.to_string()).unwrap_or_default(),
                error: problem
                    .as_ref()
                    .filter(|(name, _)| *name == s.name)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let path = format!("/admin/catalog/{}", card.id);
    let mut layout = Layout::new(t, "apps.catalog_title", &path, status.box_name().as_deref())
        .for_admin(t, actor);
    layout.title = card.name.clone();
    EntryPage {
        t,
        layout,
        page_html: markdown::to_html(&card.page),
        memory: mib(t, Some(card.memory_mb)),
        disk: mib(t, Some(card.disk_mb)),
        card,
        fields,
        form_error,
    }
}

pub async fn entry(
    PageActor(actor): PageActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let t = messages(lang);
    let card = apps
        .catalog_card(&id, lang)
        .map_err(|e| PageError::new(e, lang))?;
    Ok(render(&entry_view(
        t,
        &actor,
        &status,
        card,
        &BTreeMap::new(),
        None,
        String::new(),
    )))
}

/// The install form: `csrf` and one `setting.<name>` field per setting (a checkbox for a
/// boolean, absent when unticked).
pub async fn install(
    PageActor(actor): PageActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let t = messages(lang);
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    check_csrf(
        form.get("csrf").map(String::as_str).unwrap_or(""),
        &session.csrf,
    )
    .map_err(|e| PageError::new(e, lang))?;
    let card = apps
        .catalog_card(&id, lang)
        .map_err(|e| PageError::new(e, lang))?;
    let settings: BTreeMap<String, String> = card
        .settings
        .iter()
        .map(|s| {
            let sent = form.get(&format!("setting.{}", s.name)).cloned();
            let value = if s.kind == SettingType::Boolean {
                if sent.is_some() {
                    "true".into()
                } else {
                    "false".into()
                }
            } else {
                sent.unwrap_or_default()
            };
            (s.name.clone(), value)
        })
        .collect();
    // Not on the box yet but on a plugged stick: installed from the stick's pack.
    let stick = if card.offline {
        None
    } else {
        let (a, sid) = (apps.clone(), id.clone());
        tokio::task::spawn_blocking(move || super::packs::stick_pack_for(&a, &sid))
            .await
            .ok()
            .flatten()
    };
    let result = match stick {
        Some(pack) => apps.install_from_pack(&id, &settings, &actor.audit_name(), pack),
        None => apps.install_audited(&id, &settings, &actor.audit_name()),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/apps/{id}")).into_response()),
        Err(e) => {
            let e = ApiError::from(e);
            let (problem, form_error) = match &e {
                ApiError::App(AppError::Setting(s)) => (
                    Some((s.name.clone(), crate::apps::failure::setting_problem(t, s))),
                    t.get("apps.form_has_errors").to_owned(),
                ),
                _ => (None, error_message(t, &e)),
            };
            let (code, _) = e.status_and_key();
            let mut r = render(&entry_view(
                t, &actor, &status, card, &settings, problem, form_error,
            ));
            *r.status_mut() = code;
            Ok(r)
        }
    }
}
