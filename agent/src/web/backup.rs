//! The backup alerts on every admin page, and the Backups page.
//!
//! Alerts reach every page's layout without each page asking: a middleware reads them from
//! the store (cheap queries, no disk access) and puts them in a task-local for the duration
//! of the request; [`super::Layout::for_admin`] turns them into red banners in the admin's
//! language. No global state: the value lives only while the request is handled.

use crate::backup::{Alert, Backups};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static ALERTS: Vec<Alert>;
}

/// The alerts of the request being handled (empty outside the middleware).
pub fn current_alerts() -> Vec<Alert> {
    ALERTS.try_with(Clone::clone).unwrap_or_default()
}

/// Middleware: makes the backup alerts available to the pages' layout.
pub async fn with_alerts(State(backups): State<Backups>, req: Request, next: Next) -> Response {
    let alerts = if req.uri().path().starts_with("/admin") {
        backups.alerts().unwrap_or_default()
    } else {
        Vec::new()
    };
    ALERTS.scope(alerts, next.run(req)).await
}

use super::PageActor;
use super::{Layout, PageError, check_csrf, render};
use crate::admins::{Actor, Admins};
use crate::backup::{BackupStatus, Kit, Location, UsbDisk};
use crate::http::ApiError;
use crate::http::extract::ClientIp;
use crate::http::language::{admin_language, anonymous_language};
use crate::http::time::format_time;
use crate::i18n::{Messages, messages};
use crate::names::BoxName;
use crate::status::Status;
use askama::Template;
use axum::Form;
use axum::response::{IntoResponse, Redirect};
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "backups.html")]
struct BackupsPage {
    t: &'static Messages,
    layout: Layout,
    status: BackupStatus,
    usb: Vec<UsbDisk>,
    ssh_key: String,
    notice: String,
    form_error: String,
}

impl BackupsPage {
    fn time(&self, at: &Option<i64>) -> String {
        at.map(format_time)
            .unwrap_or_else(|| self.t.get("backup.never").to_owned())
    }
    fn started(&self, at: &i64) -> String {
        format_time(*at)
    }
    fn gib(&self, bytes: &u64) -> String {
        format!("{:.1} Gio", *bytes as f64 / (1u64 << 30) as f64)
    }
}

async fn page_view(
    t: &'static Messages,
    actor: &Actor,
    backups: &Backups,
    status: &Status,
    notice: String,
    form_error: String,
) -> Result<Response, ApiError> {
    let layout = Layout::new(
        t,
        "backup.title",
        "/admin/backups",
        status.box_name().as_deref(),
    )
    .for_admin(t, actor);
    let usb = tokio::task::spawn_blocking(crate::backup::target::usb_disks)
        .await
        .unwrap_or_default();
    let ssh_key = backups.ssh_public_key().unwrap_or_default();
    Ok(render(&BackupsPage {
        t,
        layout,
        status: backups.status()?,
        usb,
        ssh_key,
        notice,
        form_error,
    }))
}

pub async fn page(
    PageActor(actor): PageActor,
    State(backups): State<Backups>,
    State(status): State<Status>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    page_view(t, &actor, &backups, &status, String::new(), String::new())
        .await
        .map_err(|e| PageError::new(e, t.language))
}

/// One form endpoint; `action` says which form was sent.
pub async fn submit(
    PageActor(actor): PageActor,
    State(backups): State<Backups>,
    State(status): State<Status>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let field = |k: &str| {
        form.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, t.language))?;
    check_csrf(&field("csrf"), &session.csrf).map_err(|e| PageError::new(e, t.language))?;
    let kit_of = |kit: Result<Kit, crate::backup::BackupError>| {
        kit.map(|k| Some(k.target)).map_err(ApiError::from)
    };
    let result: Result<Option<String>, ApiError> = match field("action").as_str() {
        "run" => backups
            .spawn_run(actor.clone(), None)
            .map(|()| None)
            .map_err(Into::into),
        "confirm_kit" => backups
            .confirm_kit(&actor, &field("target"))
            .map(|()| None)
            .map_err(Into::into),
        "remove" => backups
            .remove_target(&actor, &field("target"))
            .map(|()| None)
            .map_err(Into::into),
        "schedule" => match field("hour").parse::<u8>() {
            Ok(h) => backups
                .set_hour(&actor, h)
                .map(|()| None)
                .map_err(Into::into),
            Err(_) => Err(ApiError::BadRequest("hour".into())),
        },
        "add_folder" => kit_of(
            backups
                .add_target(
                    &actor,
                    &field("name"),
                    Location::Folder {
                        path: field("path").into(),
                    },
                    None,
                )
                .await,
        ),
        "add_sftp" => {
            let location = Location::Sftp {
                user: field("user"),
                host: field("host"),
                port: field("port").parse().unwrap_or(22),
                path: field("path"),
            };
            kit_of(
                backups
                    .add_target(&actor, &field("name"), location, None)
                    .await,
            )
        }
        "format_usb" => kit_of(
            backups
                .add_usb_target(&actor, &field("device"), &field("confirm"), &field("name"))
                .await,
        ),
        "restore" => backups
            .restore_service(&actor, &field("target"), &field("snapshot"), &field("app"))
            .await
            .map(|()| None)
            .map_err(Into::into),
        _ => Err(ApiError::BadRequest("unknown form action".into())),
    };
    match result {
        // A new target: straight to its kit, which must be printed and confirmed.
        Ok(Some(target)) => {
            Ok(Redirect::to(&format!("/admin/backups/kit/{target}")).into_response())
        }
        Ok(None) => {
            let notice = t
                .get(if field("action") == "run" {
                    "backup.started"
                } else {
                    "backup.done"
                })
                .to_owned();
            page_view(t, &actor, &backups, &status, notice, String::new())
                .await
                .map_err(|e| PageError::new(e, t.language))
        }
        Err(e) => {
            let (code, key) = e.status_and_key();
            let message = t.error(key, &e.to_string()).to_owned();
            let mut r = page_view(t, &actor, &backups, &status, String::new(), message)
                .await
                .map_err(|e| PageError::new(e, t.language))?;
            *r.status_mut() = code;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "backup_kit.html")]
struct KitPage {
    t: &'static Messages,
    layout: Layout,
    kit: Kit,
    date: String,
}

/// The printable emergency kit.
pub async fn kit_page(
    PageActor(actor): PageActor,
    State(backups): State<Backups>,
    State(status): State<Status>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let kit = backups
        .kit(&name)
        .map_err(|e| PageError::new(e, t.language))?;
    let layout = Layout::new(
        t,
        "backup.kit_title",
        "/admin/backups",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    Ok(render(&KitPage {
        t,
        layout,
        date: format_time(kit.created_at),
        kit,
    }))
}

#[derive(Template)]
#[template(path = "setup_restore.html")]
struct SetupRestorePage {
    t: &'static Messages,
    layout: Layout,
    usb: Vec<UsbDisk>,
    form_error: String,
    done: bool,
}

/// The setup wizard's "Restaurer une sauvegarde".
pub async fn setup_restore_page(
    State(admins): State<Admins>,
    State(status): State<Status>,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, _) = req.into_parts();
    let t = messages(anonymous_language(&parts, status.box_language()));
    if admins
        .setup_done()
        .map_err(|e| PageError::new(e, t.language))?
    {
        return Ok(Redirect::to("/admin/login").into_response());
    }
    let usb = tokio::task::spawn_blocking(crate::backup::target::usb_disks)
        .await
        .unwrap_or_default();
    Ok(render(&SetupRestorePage {
        t,
        layout: Layout::new(t, "setup_restore.title", "/admin/setup/restore", None),
        usb,
        form_error: String::new(),
        done: false,
    }))
}

pub async fn setup_restore_submit(
    State(admins): State<Admins>,
    State(backups): State<Backups>,
    State(status): State<Status>,
    ClientIp(ip): ClientIp,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let t = messages(status.box_language());
    let field = |k: &str| {
        form.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let result: Result<String, ApiError> = async {
        admins.check_setup_code(&field("code"), ip, "backup_restore_box")?;
        let location = match field("source").as_str() {
            "sftp" => Location::Sftp {
                user: field("user"),
                host: field("host"),
                port: field("port").parse().unwrap_or(22),
                path: field("path"),
            },
            "folder" => Location::Folder {
                path: field("folder").into(),
            },
            _ => Location::Usb {
                uuid: field("uuid"),
                label: String::new(),
            },
        };
        let name = Some(field("box_name"))
            .filter(|n| !n.is_empty())
            .map(|n| BoxName::parse(&n))
            .transpose()
            .map_err(|e| ApiError::BadRequest(e.message))?;
        Ok(backups
            .restore_box(
                location,
                &field("password"),
                name.as_ref(),
                &format!("anonymous@{ip}"),
            )
            .await?)
    }
    .await;
    let usb = tokio::task::spawn_blocking(crate::backup::target::usb_disks)
        .await
        .unwrap_or_default();
    let layout = Layout::new(t, "setup_restore.title", "/admin/setup/restore", None);
    match result {
        Ok(_) => Ok(render(&SetupRestorePage {
            t,
            layout,
            usb,
            form_error: String::new(),
            done: true,
        })),
        Err(e) => {
            let (code, key) = e.status_and_key();
            let mut r = render(&SetupRestorePage {
                t,
                layout,
                usb,
                form_error: t.error(key, &e.to_string()).to_owned(),
                done: false,
            });
            *r.status_mut() = code;
            Ok(r)
        }
    }
}
