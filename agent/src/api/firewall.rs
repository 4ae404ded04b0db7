//! The firewall's routes: the policy explained, the live table, changes (with the automatic
//! revert when made over the network), confirmation, reload, blocked attempts.
//!
//! Change answers carry `Connection: close`: the confirmation then has to come over a new
//! connection, which proves the new rules still let the admin in.

use crate::admins::Actor;
use crate::firewall::blocked::BlockedAttempt;
use crate::firewall::overview::{FirewallOverview, overview};
use crate::firewall::{AppName, Change, ChangeOutcome, Exposure, Firewall, Subnet, blocking};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, Peer};
use crate::names::Language;
use crate::status::Status;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

fn language_for(actor: &Actor, status: &Status, asked: Option<&str>) -> Language {
    asked
        .and_then(|l| Language::parse(l).ok())
        .unwrap_or_else(|| crate::http::language::admin_language(actor, status.box_language()))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LangQuery {
    /// `fr` or `en`; default: the admin's language, else the box's.
    pub lang: Option<String>,
}

/// The firewall policy, its state and its plain-language explanation.
#[utoipa::path(get, path = "/firewall", tag = "firewall", params(LangQuery), responses((status = 200, body = FirewallOverview), (status = 401, body = ErrorBody)))]
pub async fn show(
    ApiActor(actor): ApiActor,
    State(fw): State<Firewall>,
    State(status): State<Status>,
    Query(q): Query<LangQuery>,
) -> Result<Json<FirewallOverview>, ApiError> {
    let lang = language_for(&actor, &status, q.lang.as_deref());
    let fw2 = fw.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || overview(&fw2, lang))
            .await
            .map_err(|e| ApiError::BadRequest(e.to_string()))??,
    ))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveTable {
    /// `nft list table inet panier`, or null when the table does not exist.
    pub table: Option<String>,
}

/// The live table as nft prints it.
#[utoipa::path(get, path = "/firewall/live", tag = "firewall", responses((status = 200, body = LiveTable), (status = 401, body = ErrorBody)))]
pub async fn live(_: ApiActor, State(fw): State<Firewall>) -> Result<Json<LiveTable>, ApiError> {
    Ok(Json(LiveTable {
        table: blocking(move || fw.live()).await?,
    }))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reloaded {
    pub rules: usize,
}

/// Generates and applies the whole table again.
#[utoipa::path(post, path = "/firewall/reload", tag = "firewall", responses((status = 200, body = Reloaded), (status = 422, body = ErrorBody)))]
pub async fn reload(
    ApiActor(actor): ApiActor,
    State(fw): State<Firewall>,
) -> Result<Json<Reloaded>, ApiError> {
    Ok(Json(Reloaded {
        rules: blocking(move || fw.reload_as(&actor)).await?,
    }))
}

/// A change's answer closes the connection (see the module doc).
fn changed(outcome: ChangeOutcome) -> Response {
    let mut r = Json(outcome).into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn change(
    fw: Firewall,
    actor: Actor,
    peer: Option<SocketAddr>,
    c: Change,
) -> Result<Response, ApiError> {
    Ok(changed(blocking(move || fw.change(&actor, peer, c)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExposureBody {
    pub exposure: Exposure,
}

/// Sets who may reach a service: `closed`, `lan` (the default) or `outside`.
#[utoipa::path(put, path = "/firewall/services/{app}", tag = "firewall", request_body = ExposureBody,
    responses((status = 200, body = ChangeOutcome), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_exposure(
    ApiActor(actor): ApiActor,
    Peer(peer): Peer,
    State(fw): State<Firewall>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<ExposureBody>,
) -> Result<Response, ApiError> {
    let app = AppName::parse(&app).map_err(crate::firewall::FirewallError::from)?;
    change(
        fw,
        actor,
        peer,
        Change::Exposure {
            app,
            exposure: body.exposure,
        },
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanBody {
    /// The LAN subnets, or null to detect them from the interfaces.
    pub subnets: Option<Vec<Subnet>>,
}

/// Sets the LAN zone, or goes back to detecting it.
#[utoipa::path(put, path = "/firewall/lan", tag = "firewall", request_body = LanBody,
    responses((status = 200, body = ChangeOutcome), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_lan(
    ApiActor(actor): ApiActor,
    Peer(peer): Peer,
    State(fw): State<Firewall>,
    ApiJson(body): ApiJson<LanBody>,
) -> Result<Response, ApiError> {
    change(fw, actor, peer, Change::Lan(body.subnets)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshBody {
    pub enabled: bool,
}

/// Opens or closes SSH (port 22) to the LAN.
#[utoipa::path(put, path = "/firewall/ssh", tag = "firewall", request_body = SshBody,
    responses((status = 200, body = ChangeOutcome), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_ssh(
    ApiActor(actor): ApiActor,
    Peer(peer): Peer,
    State(fw): State<Firewall>,
    ApiJson(body): ApiJson<SshBody>,
) -> Result<Response, ApiError> {
    change(fw, actor, peer, Change::Ssh(body.enabled)).await
}

/// Keeps the change made over the network; must come over a new connection.
#[utoipa::path(post, path = "/firewall/confirm", tag = "firewall", responses((status = 204), (status = 409, body = ErrorBody)))]
pub async fn confirm(
    ApiActor(actor): ApiActor,
    Peer(peer): Peer,
    State(fw): State<Firewall>,
) -> Result<StatusCode, ApiError> {
    blocking(move || fw.confirm(&actor, peer)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The latest blocked attempts from the journal, newest first.
#[utoipa::path(get, path = "/firewall/blocked", tag = "firewall", responses((status = 200, body = Vec<BlockedAttempt>), (status = 401, body = ErrorBody)))]
pub async fn blocked(_: ApiActor) -> Result<Json<Vec<BlockedAttempt>>, ApiError> {
    let list = tokio::task::spawn_blocking(|| crate::firewall::blocked::latest(20))
        .await
        .unwrap_or_default();
    Ok(Json(list))
}
