//! The box's public domain, services' public names and how certificates are obtained.

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::reach::{AcmeChange, Reach, ReachView};
use crate::web::access::Access;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// A domain, or a public name; `null` removes it.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    pub name: Option<String>,
}

/// The domain, the public names, the ACME settings, the certificate and the last attempt.
#[utoipa::path(get, path = "/reach", tag = "reach", responses((status = 200, body = ReachView), (status = 401, body = ErrorBody)))]
pub async fn view(
    _: ApiActor,
    State(reach): State<Reach>,
    State(access): State<Access>,
) -> Result<Json<ReachView>, ApiError> {
    Ok(Json(reach.view(&access.route_names())?))
}

/// Sets or removes the box's public domain (`biblio.example.org`).
#[utoipa::path(put, path = "/reach/domain", tag = "reach", request_body = NameBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set_domain(
    ApiActor(actor): ApiActor,
    State(reach): State<Reach>,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<StatusCode, ApiError> {
    reach.set_domain(&actor, body.name.as_deref())?;
    Ok(StatusCode::NO_CONTENT)
}

/// Chooses a service's public name (`null`: back to `<service>.<domain>`).
#[utoipa::path(put, path = "/reach/names/{app}", tag = "reach", params(("app" = String, Path, description = "the service's id")), request_body = NameBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_name(
    ApiActor(actor): ApiActor,
    State(reach): State<Reach>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<StatusCode, ApiError> {
    reach.set_name(&actor, &app, body.name.as_deref())?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the ACME directory, the contact, the challenge and the DNS update settings.
#[utoipa::path(put, path = "/reach/acme", tag = "reach", request_body = AcmeChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set_acme(
    ApiActor(actor): ApiActor,
    State(reach): State<Reach>,
    ApiJson(body): ApiJson<AcmeChange>,
) -> Result<StatusCode, ApiError> {
    reach.set_acme(&actor, body)?;
    Ok(StatusCode::NO_CONTENT)
}
