//! How services are reached, and the public portal's texts.

use crate::access::{Access, AccessReport};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::names::Language;
use crate::store::PortalTexts;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// Names, fixed ports, mDNS conflicts and the authority's fingerprint.
#[utoipa::path(get, path = "/access", tag = "access", responses((status = 200, body = AccessReport), (status = 401, body = ErrorBody)))]
pub async fn report(
    _: ApiActor,
    State(access): State<Access>,
) -> Result<Json<AccessReport>, ApiError> {
    Ok(Json(access.report()?))
}

/// The portal's title and introduction in one language (empty: the default text).
#[utoipa::path(get, path = "/portal/{language}", tag = "access", params(("language" = String, Path, description = "fr or en")),
    responses((status = 200, body = PortalTexts), (status = 401, body = ErrorBody)))]
pub async fn texts(
    _: ApiActor,
    State(access): State<Access>,
    Path(language): Path<String>,
) -> Result<Json<PortalTexts>, ApiError> {
    let language = Language::parse(&language).map_err(|e| ApiError::BadRequest(e.message))?;
    Ok(Json(access.texts(language)?))
}

/// Sets the portal's title and introduction in one language.
#[utoipa::path(put, path = "/portal/{language}", tag = "access", params(("language" = String, Path, description = "fr or en")), request_body = PortalTexts,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set_texts(
    ApiActor(actor): ApiActor,
    State(access): State<Access>,
    Path(language): Path<String>,
    ApiJson(body): ApiJson<PortalTexts>,
) -> Result<StatusCode, ApiError> {
    let language = Language::parse(&language).map_err(|e| ApiError::BadRequest(e.message))?;
    access.set_texts(&actor, language, body)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forgets the names taken by other devices, so the original names are tried again.
#[utoipa::path(delete, path = "/access/renames", tag = "access", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn clear_renames(
    ApiActor(actor): ApiActor,
    State(access): State<Access>,
) -> Result<StatusCode, ApiError> {
    access.clear_renames(&actor)?;
    Ok(StatusCode::NO_CONTENT)
}
