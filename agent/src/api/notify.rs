//! Mail alerts: the relay settings (the password is write-only), removing them, and a test
//! mail sent at once.

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::notify::{MailSettingsInput, MailSettingsView, Notifier};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// The mail settings, or null when none are set. Never the password (`password_set`).
#[utoipa::path(get, path = "/notify/mail", tag = "system",
    responses((status = 200, body = Option<MailSettingsView>), (status = 401, body = ErrorBody)))]
pub async fn show(
    _: ApiActor,
    State(notifier): State<Notifier>,
) -> Result<Json<Option<MailSettingsView>>, ApiError> {
    Ok(Json(notifier.view()?))
}

/// Sets the address and the relay. Without `password`, the stored one is kept.
#[utoipa::path(put, path = "/notify/mail", tag = "system", request_body = MailSettingsInput,
    responses((status = 200, body = MailSettingsView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set(
    ApiActor(actor): ApiActor,
    State(notifier): State<Notifier>,
    ApiJson(input): ApiJson<MailSettingsInput>,
) -> Result<Json<MailSettingsView>, ApiError> {
    Ok(Json(notifier.set(&actor.audit_name(), input)?))
}

/// Stops mail alerts.
#[utoipa::path(delete, path = "/notify/mail", tag = "system",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn clear(
    ApiActor(actor): ApiActor,
    State(notifier): State<Notifier>,
) -> Result<StatusCode, ApiError> {
    notifier.clear(&actor.audit_name())?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test mail now; 502 with the relay's answer when it refuses.
#[utoipa::path(post, path = "/notify/test", tag = "system",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn test(
    ApiActor(actor): ApiActor,
    State(notifier): State<Notifier>,
) -> Result<StatusCode, ApiError> {
    notifier.send_test(&actor.audit_name()).await?;
    Ok(StatusCode::NO_CONTENT)
}
