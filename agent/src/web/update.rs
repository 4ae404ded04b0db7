//! The Update page, over the update domain (the same calls as `/api/v1/update`): the running
//! and offered versions with the release notes in the admin's language, "Check now",
//! "Install" with the restart now or at a chosen night hour, the installation's progress
//! (the page reloads itself while it runs), "Restart now" once installed, and what became of
//! the last attempt — failed, or rolled back with what the failed boot logged.

use super::{Layout, PageActor, PageError, check_form, render};
use crate::http::ApiError;
use crate::http::language::admin_language;
use crate::http::time::format_time;
use crate::i18n::{Messages, messages};
use crate::names::Language;
use crate::status::Status;
use crate::store::{AttemptState, Said};
use crate::update::{Offer, RestartWhen, UpdateStatus, Updates};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// The offered release, in the admin's words.
pub struct OfferView {
    pub version: String,
    /// "3 Mo", "3 MB".
    pub size: String,
    pub notes: String,
    pub stepping_stone: bool,
}

/// The latest attempt, in the admin's words.
pub struct AttemptView {
    pub version: String,
    pub from_version: String,
    pub state: &'static str,
    pub state_text: String,
    pub running: bool,
    pub step: String,
    pub percent: i64,
    pub error: Option<String>,
    pub boot_log: Option<String>,
    pub reboot_at: Option<String>,
}

#[derive(Template)]
#[template(path = "update.html")]
struct UpdatePage {
    t: &'static Messages,
    layout: Layout,
    status: UpdateStatus,
    /// `available`, `up_to_date`, `blocked` or `none`.
    offer_kind: &'static str,
    offer: Option<OfferView>,
    blocked: String,
    check_error: Option<String>,
    checked_at: String,
    attempt: Option<AttemptView>,
    hours: Vec<u8>,
    chosen_hour: u8,
    sticks: Vec<StickView>,
}

/// An update on a plugged USB stick.
pub struct StickView {
    pub name: String,
    pub uuid: String,
    pub version: Option<String>,
    pub problem: Option<String>,
}

fn stick_view(t: &'static Messages, u: crate::update::UsbUpdate) -> StickView {
    StickView {
        name: match &u.label {
            Some(l) => format!("{l} ({})", u.device),
            None => u.device.clone(),
        },
        version: match &u.offer {
            Some(Offer::Available { release, .. }) => Some(release.version.to_string()),
            _ => None,
        },
        problem: u.problem.as_ref().map(|p| said(p, t.language)),
        uuid: u.uuid,
    }
}

impl UpdatePage {
    fn refresh(&self) -> bool {
        self.attempt.as_ref().is_some_and(|a| a.running)
    }
}

fn said(s: &Said, lang: Language) -> String {
    match lang {
        Language::Fr => s.fr.clone(),
        Language::En => s.en.clone(),
    }
}

fn view(t: &'static Messages, status: &UpdateStatus) -> (&'static str, Option<OfferView>, String) {
    match &status.offer {
        Some(Offer::Available {
            release,
            stepping_stone,
        }) => (
            "available",
            Some(OfferView {
                version: release.version.to_string(),
                size: t.fmt(
                    "update.size_mb",
                    &[("mb", &release.size.div_ceil(1_000_000).to_string())],
                ),
                notes: match t.language {
                    Language::Fr => release.notes.fr.clone(),
                    Language::En => release.notes.en.clone(),
                },
                stepping_stone: *stepping_stone,
            }),
            String::new(),
        ),
        Some(Offer::UpToDate) => ("up_to_date", None, String::new()),
        Some(Offer::Blocked { latest, min_from }) => (
            "blocked",
            None,
            t.fmt(
                "update.blocked",
                &[("latest", latest.as_str()), ("min_from", min_from.as_str())],
            ),
        ),
        None => ("none", None, String::new()),
    }
}

fn attempt_view(t: &'static Messages, status: &UpdateStatus) -> Option<AttemptView> {
    let a = status.attempt.as_ref()?;
    let state = a.attempt.state.as_str();
    Some(AttemptView {
        version: a.attempt.version.clone(),
        from_version: a.attempt.from_version.clone(),
        state,
        state_text: t.get(&format!("update.state_{state}")).to_owned(),
        running: matches!(
            a.attempt.state,
            AttemptState::Downloading | AttemptState::Installing
        ),
        step: a
            .step
            .as_deref()
            .map(|s| t.get(&format!("update.step_{s}")).to_owned())
            .unwrap_or_default(),
        percent: a.percent.unwrap_or(0),
        error: a.attempt.error.as_ref().map(|e| said(e, t.language)),
        boot_log: a.attempt.boot_log.clone(),
        reboot_at: a.attempt.reboot_at.map(format_time),
    })
}

pub async fn page(
    PageActor(actor): PageActor,
    State(status): State<Status>,
    State(updates): State<Updates>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let layout = Layout::new(
        t,
        "update.title",
        "/admin/update",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let s = updates
        .status()
        .map_err(|e| PageError::new(e, t.language))?;
    let (offer_kind, offer, blocked) = view(t, &s);
    let scan = updates.clone();
    let sticks = tokio::task::spawn_blocking(move || scan.scan_usb())
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|u| stick_view(t, u))
        .collect();
    Ok(render(&UpdatePage {
        t,
        layout,
        offer_kind,
        offer,
        blocked,
        check_error: s.check_error.as_ref().map(|e| said(e, t.language)),
        checked_at: s
            .checked_at
            .map(format_time)
            .unwrap_or_else(|| t.get("update.never").to_owned()),
        attempt: attempt_view(t, &s),
        hours: (0..24).collect(),
        chosen_hour: s.restart_hour.unwrap_or(3),
        status: s,
        sticks,
    }))
}

/// The page's forms: `check`, `install`, `restart`, `channel`.
pub async fn submit(
    PageActor(actor): PageActor,
    State(status): State<Status>,
    State(updates): State<Updates>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    check_form(&actor, &field("csrf"), lang)?;
    let who = actor.audit_name();
    let err = |e| PageError::new(ApiError::Update(e), lang);
    match field("action").as_str() {
        // A refused index is kept with the status and shown by the page.
        "check" => {
            let _ = updates.check().await;
        }
        "install" => {
            let when = match field("restart").as_str() {
                "at" => RestartWhen::At(
                    field("hour")
                        .parse()
                        .map_err(|_| PageError::new(ApiError::BadRequest("hour".into()), lang))?,
                ),
                _ => RestartWhen::Now,
            };
            let version = Some(field("version")).filter(|v| !v.is_empty());
            updates
                .install(&who, version.as_deref(), when)
                .map_err(err)?;
        }
        "install_usb" => {
            let uuid = field("uuid");
            let version = Some(field("version")).filter(|v| !v.is_empty());
            let u = updates.clone();
            tokio::task::spawn_blocking(move || {
                u.install_usb(&who, &uuid, version.as_deref(), RestartWhen::Now)
            })
            .await
            .map_err(|e| PageError::new(ApiError::BadRequest(e.to_string()), lang))?
            .map_err(err)?;
        }
        "restart" => updates.restart_now(&who).map_err(err)?,
        "channel" => {
            let url = field("channel");
            updates
                .set_channel(&who, Some(url.as_str()).filter(|u| !u.is_empty()))
                .map_err(err)?;
        }
        _ => {
            return Err(PageError::new(
                ApiError::BadRequest("unknown action".into()),
                lang,
            ));
        }
    }
    Ok(Redirect::to("/admin/update").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AttemptRow, UpdateSource};
    use crate::update::AttemptView as Attempt;

    fn status(state: AttemptState, error: Option<Said>, boot_log: Option<&str>) -> UpdateStatus {
        UpdateStatus {
            attempt: Some(Attempt {
                attempt: AttemptRow {
                    id: 1,
                    version: "2027.1.0".into(),
                    from_version: "2026.12.0".into(),
                    source: UpdateSource::Channel,
                    bundle: "https://u.example/b.raucb".into(),
                    size: 1,
                    sha256: "0".repeat(64),
                    notes_fr: String::new(),
                    notes_en: String::new(),
                    actor: "camille".into(),
                    state,
                    job_id: None,
                    target_slot: Some("B".into()),
                    reboot_at: None,
                    installed_boot: None,
                    started_at: 0,
                    installed_at: None,
                    finished_at: Some(0),
                    error,
                    boot_log: boot_log.map(str::to_owned),
                },
                step: None,
                percent: None,
            }),
            ..UpdateStatus::for_tests(Some("2026.12.0"))
        }
    }

    #[test]
    fn a_rolled_back_update_says_so_and_why_in_the_admins_language() {
        let why = Said {
            key: "update_rolled_back".into(),
            fr: "La mise à jour vers 2027.1.0 a été annulée. Raison donnée par le démarrage raté : panier ne répond pas.".into(),
            en: "The update to 2027.1.0 was rolled back. Reason: panier does not answer.".into(),
        };
        let t = messages(Language::Fr);
        let s = status(
            AttemptState::RolledBack,
            Some(why),
            Some("panier-mark-good: panier ne répond pas"),
        );
        let a = attempt_view(t, &s).unwrap();
        assert_eq!(a.state, "rolled_back");
        assert!(!a.running);
        assert_eq!(a.state_text, t.get("update.state_rolled_back"));
        assert!(a.error.unwrap().contains("a été annulée"));
        let page = UpdatePage {
            t,
            layout: Layout::new(t, "update.title", "/admin/update", Some("biblio")),
            offer_kind: "up_to_date",
            offer: None,
            blocked: String::new(),
            check_error: None,
            checked_at: String::new(),
            attempt: attempt_view(t, &s),
            hours: (0..24).collect(),
            chosen_hour: 3,
            status: s,
            sticks: vec![],
        }
        .render()
        .unwrap();
        assert!(
            page.contains(r#"id="attempt-state" data-state="rolled_back""#),
            "{page}"
        );
        assert!(
            page.contains("Raison donnée par le démarrage raté"),
            "{page}"
        );
        assert!(
            page.contains("panier-mark-good: panier ne répond pas"),
            "{page}"
        );
    }
}
