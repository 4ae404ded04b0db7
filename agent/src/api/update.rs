//! OS updates: the status (running and offered versions, the last check, the latest attempt
//! with its progress), checking the channel now, installing, restarting into the new system,
//! and the channel and restart-hour settings. The Update page and `panier update` use these.

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::update::{RestartWhen, UpdateStatus, Updates};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// The update status.
#[utoipa::path(get, path = "/update", tag = "update",
    responses((status = 200, body = UpdateStatus), (status = 401, body = ErrorBody)))]
pub async fn status(
    _: ApiActor,
    State(updates): State<Updates>,
) -> Result<Json<UpdateStatus>, ApiError> {
    Ok(Json(updates.status()?))
}

/// Checks the channel now. A refused index (signature, expiry, older than one seen) or an
/// unreachable server is an error naming why; the status keeps it too.
#[utoipa::path(post, path = "/update/check", tag = "update",
    responses((status = 200, body = UpdateStatus), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn check(
    _: ApiActor,
    State(updates): State<Updates>,
) -> Result<Json<UpdateStatus>, ApiError> {
    updates.check().await?;
    Ok(Json(updates.status()?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// The version the admin saw offered; refused if the offer changed since.
    #[serde(default)]
    pub version: Option<String>,
    /// `{"restart": "now"}` or `{"restart": "at", "hour": 3}`.
    #[serde(flatten)]
    pub when: RestartWhen,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateStarted {
    pub job: i64,
}

/// Installs the offered release: download (resumable), checks against the signed index,
/// RAUC into the other slot, restart now or at the hour given. Answers 202 with the job;
/// follow it with `GET /update`.
#[utoipa::path(post, path = "/update/install", tag = "update", request_body = InstallRequest,
    responses((status = 202, body = UpdateStarted), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 507, body = ErrorBody)))]
pub async fn install(
    ApiActor(actor): ApiActor,
    State(updates): State<Updates>,
    ApiJson(req): ApiJson<InstallRequest>,
) -> Result<(StatusCode, Json<UpdateStarted>), ApiError> {
    let job = updates.install(&actor.audit_name(), req.version.as_deref(), req.when)?;
    Ok((StatusCode::ACCEPTED, Json(UpdateStarted { job })))
}

/// Restarts into the installed system now, instead of at the planned hour.
#[utoipa::path(post, path = "/update/restart", tag = "update",
    responses((status = 202), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restart(
    ApiActor(actor): ApiActor,
    State(updates): State<Updates>,
) -> Result<StatusCode, ApiError> {
    updates.restart_now(&actor.audit_name())?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// The channel's index address; empty or null: the configuration's.
    #[serde(default)]
    pub channel: Option<String>,
    /// The hour (0-23) for restarts into a new system; null: at once.
    #[serde(default)]
    pub restart_hour: Option<u8>,
}

/// Sets the channel address and the restart hour.
#[utoipa::path(put, path = "/update/settings", tag = "update", request_body = UpdateSettings,
    responses((status = 200, body = UpdateStatus), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn settings(
    ApiActor(actor): ApiActor,
    State(updates): State<Updates>,
    ApiJson(req): ApiJson<UpdateSettings>,
) -> Result<Json<UpdateStatus>, ApiError> {
    let actor = actor.audit_name();
    updates.set_channel(&actor, req.channel.as_deref())?;
    updates.set_restart_hour(&actor, req.restart_hour)?;
    Ok(Json(updates.status()?))
}

/// The updates on the USB sticks plugged in now, each checked with the release key (an
/// offer, or why it is refused).
#[utoipa::path(get, path = "/update/usb", tag = "update",
    responses((status = 200, body = Vec<crate::update::UsbUpdate>), (status = 401, body = ErrorBody)))]
pub async fn usb(
    _: ApiActor,
    State(updates): State<Updates>,
) -> Result<Json<Vec<crate::update::UsbUpdate>>, ApiError> {
    let found = tokio::task::spawn_blocking(move || updates.scan_usb())
        .await
        .unwrap_or_default();
    Ok(Json(found))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsbInstallRequest {
    /// The stick's file-system UUID, as `GET /update/usb` gives it.
    pub uuid: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(flatten)]
    pub when: RestartWhen,
}

/// Installs the update on a stick: checked like the channel's, copied to the data partition,
/// checked again, RAUC, restart now or at the hour given. Answers 202 with the job.
#[utoipa::path(post, path = "/update/usb/install", tag = "update", request_body = UsbInstallRequest,
    responses((status = 202, body = UpdateStarted), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn usb_install(
    ApiActor(actor): ApiActor,
    State(updates): State<Updates>,
    ApiJson(req): ApiJson<UsbInstallRequest>,
) -> Result<(StatusCode, Json<UpdateStarted>), ApiError> {
    let job = tokio::task::spawn_blocking(move || {
        updates.install_usb(
            &actor.audit_name(),
            &req.uuid,
            req.version.as_deref(),
            req.when,
        )
    })
    .await
    .map_err(|e| ApiError::BadRequest(e.to_string()))??;
    Ok((StatusCode::ACCEPTED, Json(UpdateStarted { job })))
}
