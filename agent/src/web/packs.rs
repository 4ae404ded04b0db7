//! The Offline part of the Catalog page: packs on plugged USB sticks (with an Import button),
//! the services imported packs brought, the keys trusted for packs (add, remove) and the
//! registry mirror. Every form goes through the same domain calls as `/api/v1/packs`.

use super::apps::error_message;
use super::{PageActor, PageError, check_csrf};
use crate::apps::Apps;
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::pack::{PacksView, StickPack};
use crate::status::Status;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// A stick's pack in the admin's words.
pub struct StickView {
    pub dir: String,
    pub line: String,
    pub usable: bool,
}

/// The Offline section's content.
pub struct OfflineView {
    pub sticks: Vec<StickView>,
    pub view: PacksView,
}

fn size(t: &Messages, bytes: u64) -> String {
    t.fmt("apps.mib", &[("n", &(bytes >> 20).to_string())])
}

fn stick_line(t: &Messages, s: &StickPack) -> String {
    let stick = format!(
        "{} ({})",
        s.label.clone().unwrap_or_else(|| s.model.clone()),
        s.device
    );
    if s.usable {
        let services: Vec<String> = s
            .services
            .iter()
            .map(|x| format!("{} {}", x.id, x.version))
            .collect();
        t.fmt(
            "packs.stick_pack",
            &[
                ("stick", &stick),
                ("services", &services.join(", ")),
                ("size", &size(t, s.images_bytes)),
                ("signer", s.signer.as_deref().unwrap_or("")),
                (
                    "date",
                    s.created_at
                        .as_deref()
                        .unwrap_or("")
                        .get(..10)
                        .unwrap_or(""),
                ),
            ],
        )
    } else {
        let key = s.problem_key.as_deref().unwrap_or("pack_invalid");
        let problem = t.error(key, s.problem.as_deref().unwrap_or(""));
        t.fmt(
            "packs.stick_refused",
            &[("stick", &stick), ("problem", problem)],
        )
    }
}

/// Reads what the section shows (scans the USB disks: call off the async threads).
pub fn offline(apps: &Apps, t: &'static Messages) -> Option<OfflineView> {
    let view = apps.packs()?.view().ok()?;
    let sticks = view
        .sticks
        .iter()
        .map(|s| StickView {
            dir: s.dir.clone(),
            line: stick_line(t, s),
            usable: s.usable,
        })
        .collect();
    Some(OfflineView { sticks, view })
}

/// The verified pack on a plugged stick that carries `id`, if any (blocking: scans).
pub fn stick_pack_for(apps: &Apps, id: &str) -> Option<crate::pack::OpenPack> {
    apps.packs()?
        .scan_usb()
        .into_iter()
        .filter_map(|f| f.pack.ok())
        .find(|p| p.index.services.iter().any(|s| s.id.as_str() == id))
}

/// The form posts of the section: `action` is `import`, `key_add`, `key_remove` or
/// `mirror`.
pub async fn submit(
    PageActor(actor): PageActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(action): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let t = messages(lang);
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    check_csrf(field(&form, "csrf"), &session.csrf).map_err(|e| PageError::new(e, lang))?;
    let fail = |e: ApiError| PageError::new(ApiError::BadRequest(error_message(t, &e)), lang);
    let packs = apps
        .packs()
        .cloned()
        .ok_or_else(|| PageError::new(ApiError::NotFound, lang))?;
    let who = actor.audit_name();
    match action.as_str() {
        "import" => {
            let dir = std::path::PathBuf::from(field(&form, "dir"));
            let p = packs.clone();
            let opened = tokio::task::spawn_blocking(move || p.open(&dir))
                .await
                .map_err(|e| fail(ApiError::BadRequest(e.to_string())))?;
            let pack = opened.map_err(|e| {
                packs.audit_refusal(&who, "pack_import", field(&form, "dir"), &e);
                fail(ApiError::Pack(e))
            })?;
            apps.import_pack(&who, pack)
                .map_err(|e| fail(ApiError::App(e)))?;
        }
        "key_add" => {
            packs
                .enrol(&who, field(&form, "name"), field(&form, "public_key"))
                .map_err(|e| fail(ApiError::Pack(e)))?;
        }
        "key_remove" => {
            packs
                .remove_key(&who, field(&form, "id"))
                .map_err(|e| fail(ApiError::Pack(e)))?;
        }
        "mirror" => {
            let url = field(&form, "url").to_owned();
            tokio::task::spawn_blocking(move || packs.set_registry_mirror(&who, &url))
                .await
                .map_err(|e| fail(ApiError::BadRequest(e.to_string())))?
                .map_err(|e| fail(ApiError::Pack(e)))?;
        }
        _ => return Err(PageError::new(ApiError::NotFound, lang)),
    }
    Ok(Redirect::to("/admin/catalog#offline").into_response())
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or("")
}
