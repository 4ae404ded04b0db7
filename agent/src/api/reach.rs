//! The box's public domain, services' public names and how certificates are obtained.

use crate::access::Access;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::reach::diagnosis::Finding;
use crate::reach::relay::{JoinRequest, RelayView};
use crate::reach::{AcmeChange, Reach, ReachView};
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

/// Checks every public name as a visitor would meet it: DNS, ports 80 and 443, certificate.
#[utoipa::path(get, path = "/reach/diagnosis", tag = "reach", responses((status = 200, body = Vec<Finding>), (status = 401, body = ErrorBody)))]
pub async fn diagnosis(
    _: ApiActor,
    State(reach): State<Reach>,
    State(access): State<Access>,
) -> Result<Json<Vec<Finding>>, ApiError> {
    let hosts: Vec<String> = reach
        .view(&access.route_names())?
        .services
        .into_iter()
        .map(|s| s.host)
        .collect();
    Ok(Json(crate::reach::diagnosis::run(&reach, &hosts).await))
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

/// The relay and the tunnel's state (last handshake, whether the relay answers).
#[utoipa::path(get, path = "/relay", tag = "reach", responses((status = 200, body = RelayView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn relay(_: ApiActor, State(reach): State<Reach>) -> Result<Json<RelayView>, ApiError> {
    Ok(Json(reach.relay_view()?))
}

/// Joins the relay at `endpoint` (its WireGuard `host:port`) whose public key is `relay_key`.
#[utoipa::path(put, path = "/relay", tag = "reach", request_body = JoinRequest,
    responses((status = 200, body = RelayView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn join_relay(
    ApiActor(actor): ApiActor,
    State(reach): State<Reach>,
    ApiJson(body): ApiJson<JoinRequest>,
) -> Result<Json<RelayView>, ApiError> {
    Ok(Json(reach.join_relay(&actor, body)?))
}

/// Leaves the relay: the tunnel is removed.
#[utoipa::path(delete, path = "/relay", tag = "reach", responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn leave_relay(
    ApiActor(actor): ApiActor,
    State(reach): State<Reach>,
) -> Result<StatusCode, ApiError> {
    reach.leave_relay(&actor)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ServerConfigQuery {
    /// The relay server's public interface (default eth0).
    pub interface: Option<String>,
}

/// The relay server's files, with the steps.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ServerConfig {
    pub config: String,
}

/// The files and steps for the relay's Debian server.
#[utoipa::path(get, path = "/relay/server-config", tag = "reach", params(ServerConfigQuery),
    responses((status = 200, body = ServerConfig), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn relay_server_config(
    _: ApiActor,
    State(reach): State<Reach>,
    axum::extract::Query(q): axum::extract::Query<ServerConfigQuery>,
) -> Result<Json<ServerConfig>, ApiError> {
    let interface = q.interface.unwrap_or_else(|| "eth0".into());
    if !crate::proxy::valid_label(&interface.to_ascii_lowercase()) || interface.len() > 15 {
        return Err(ApiError::BadRequest("not an interface name".into()));
    }
    Ok(Json(ServerConfig {
        config: reach.relay_server_config(&interface)?,
    }))
}
