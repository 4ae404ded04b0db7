//! Install mode: the offer and progress, starting the install, the sheet, the restart.
//!
//! Who may call these routes ([`InstallActor`]): the local socket (`panier install`), an admin
//! session (with its CSRF token on POST), or, while setup is not done, anyone giving the
//! box's setup code in the `X-Setup-Code` header, checked and throttled like setup itself.
//! A header rather than a `code` field in the body (as `/setup` and `/setup/restore` take):
//! the progress and the sheet are read with GET, and a header keeps the code out of URLs and
//! logs the same way for every route. Without any of the three: 401, like every other route.

use crate::admins::Admins;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ClientIp};
use crate::install::{Install, InstallView, StartRequest};
use crate::names::{BoxName, Language};
use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub const SETUP_CODE_HEADER: &str = "x-setup-code";

/// The caller of an install route, by its name in the audit log.
pub struct InstallActor(pub String);

impl<S: Send + Sync> FromRequestParts<S> for InstallActor
where
    Admins: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(code) = parts
            .headers
            .get(SETUP_CODE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return ApiActor::from_request_parts(parts, state)
                .await
                .map(|ApiActor(actor)| InstallActor(actor.audit_name()));
        };
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .expect("infallible");
        Admins::from_ref(state).check_setup_code(&code, ip, "install")?;
        Ok(InstallActor(format!("anonymous@{ip} (setup code)")))
    }
}

/// Whether install mode is offered, the internal disks, the running or last install (its
/// step, progress lines and, once done, the new box's name, setup code and sheet).
#[utoipa::path(get, path = "/install", tag = "install", security(("session" = []), ("setup_code" = [])),
    responses((status = 200, body = InstallView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn view(
    _: InstallActor,
    State(install): State<Install>,
) -> Result<Json<InstallView>, ApiError> {
    Ok(Json(
        tokio::task::spawn_blocking(move || install.view())
            .await
            .expect("install view")?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInstall {
    /// The internal disk, as listed (`/dev/nvme0n1` or `nvme0n1`).
    pub target: String,
    /// Its serial number typed again: everything on it is erased.
    pub confirm: String,
    /// The new box's name.
    pub box_name: BoxName,
    /// The language of the progress lines and the sheet (French by default).
    #[serde(default)]
    pub language: Language,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstallStarted {
    pub job: i64,
}

/// Starts the install onto an internal disk: hardware verdict, wipe, copy and verification,
/// provisioning, sheet. Answers 202 with the job; follow it with `GET /install`.
#[utoipa::path(post, path = "/install", tag = "install", security(("session" = []), ("setup_code" = [])), request_body = StartInstall,
    responses((status = 202, body = InstallStarted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start(
    InstallActor(actor): InstallActor,
    State(install): State<Install>,
    ApiJson(req): ApiJson<StartInstall>,
) -> Result<(StatusCode, Json<InstallStarted>), ApiError> {
    let request = StartRequest {
        target: req.target,
        confirm: req.confirm,
        box_name: req.box_name,
        language: req.language,
    };
    let job = tokio::task::spawn_blocking(move || install.start(&actor, request))
        .await
        .expect("install start")?;
    Ok((StatusCode::ACCEPTED, Json(InstallStarted { job })))
}

/// The printable refurbishment sheet of the last install (HTML).
#[utoipa::path(get, path = "/install/sheet", tag = "install", security(("session" = []), ("setup_code" = [])),
    responses((status = 200, content_type = "text/html"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn sheet(_: InstallActor, State(install): State<Install>) -> Result<Response, ApiError> {
    Ok(Html(install.sheet()?).into_response())
}

/// Restarts the box (after the install, with the USB stick removed, it starts from the
/// internal disk). Refused while an install runs.
#[utoipa::path(post, path = "/install/restart", tag = "install", security(("session" = []), ("setup_code" = [])),
    responses((status = 202), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restart(
    InstallActor(actor): InstallActor,
    State(install): State<Install>,
) -> Result<StatusCode, ApiError> {
    install.restart(&actor)?;
    Ok(StatusCode::ACCEPTED)
}
