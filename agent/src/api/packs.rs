//! Image packs: what plugged sticks and imported packs offer, importing, updating a service
//! from a pack, the keys trusted for packs, the registry mirror.

use super::apps::JobStarted;
use crate::apps::Apps;
use crate::catalog::AppId;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::pack::{OpenPack, PackError, PacksView};
use crate::signing::keyring::TrustedKey;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

fn packs(apps: &Apps) -> Result<crate::pack::Packs, ApiError> {
    apps.packs()
        .cloned()
        .ok_or_else(|| ApiError::BadRequest("image packs are not available here".into()))
}

/// Opens and verifies the pack in `dir` (off the async threads: it reads files).
pub async fn open(apps: &Apps, dir: &str) -> Result<OpenPack, ApiError> {
    let packs = packs(apps)?;
    let dir = std::path::PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(ApiError::Pack(PackError::NotAPack { dir }));
    }
    tokio::task::spawn_blocking(move || packs.open(&dir))
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .map_err(ApiError::Pack)
}

/// Packs on plugged USB sticks, what imported packs brought, trusted keys, the mirror.
#[utoipa::path(get, path = "/packs", tag = "packs", responses((status = 200, body = PacksView), (status = 401, body = ErrorBody)))]
pub async fn view(_: ApiActor, State(apps): State<Apps>) -> Result<Json<PacksView>, ApiError> {
    let packs = packs(&apps)?;
    let view = tokio::task::spawn_blocking(move || packs.view())
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))??;
    Ok(Json(view))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackDir {
    /// The pack's folder on the box (a stick's, as `GET /packs` lists it).
    pub dir: String,
}

/// Imports a pack: every image loaded (each verified), its services offered offline.
#[utoipa::path(post, path = "/packs/import", tag = "packs", request_body = PackDir,
    responses((status = 202, body = JobStarted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    ApiJson(req): ApiJson<PackDir>,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let pack = open(&apps, &req.dir).await;
    if let Err(ApiError::Pack(e)) = &pack {
        packs(&apps)?.audit_refusal(&actor.audit_name(), "pack_import", &req.dir, e);
    }
    let pack = pack?;
    let job = apps.import_pack(&actor.audit_name(), pack)?;
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFromPack {
    pub app: String,
    pub dir: String,
}

/// Updates an installed service to the version a pack carries (the update job, safety
/// backup included).
#[utoipa::path(post, path = "/packs/update", tag = "packs", request_body = UpdateFromPack,
    responses((status = 202, body = JobStarted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    ApiJson(req): ApiJson<UpdateFromPack>,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let app = AppId::parse(&req.app).map_err(|e| ApiError::BadRequest(e.message))?;
    let pack = open(&apps, &req.dir).await?;
    let job = apps.update_from_pack(&app, &actor.audit_name(), pack)?;
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// A minisign public key: the `.pub` file's content or its second line.
    pub public_key: String,
}

/// The keys trusted for packs (the image's and the enrolled ones).
#[utoipa::path(get, path = "/packs/keys", tag = "packs", responses((status = 200, body = Vec<TrustedKey>)))]
pub async fn keys(
    _: ApiActor,
    State(apps): State<Apps>,
) -> Result<Json<Vec<TrustedKey>>, ApiError> {
    Ok(Json(packs(&apps)?.keyring()?.keys))
}

/// Trusts a key for packs.
#[utoipa::path(post, path = "/packs/keys", tag = "packs", request_body = NewKey,
    responses((status = 201, body = TrustedKey), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_key(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    ApiJson(req): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<TrustedKey>), ApiError> {
    let key = packs(&apps)?.enrol(&actor.audit_name(), &req.name, &req.public_key)?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Stops trusting an enrolled key.
#[utoipa::path(delete, path = "/packs/keys/{id}", tag = "packs", responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_key(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    packs(&apps)?.remove_key(&actor.audit_name(), &id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mirror {
    /// `https://…`, or empty for none.
    pub url: String,
}

/// Sets the registry mirror the container engine asks first (empty: none).
#[utoipa::path(put, path = "/packs/mirror", tag = "packs", request_body = Mirror,
    responses((status = 200, body = Mirror), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn set_mirror(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    ApiJson(req): ApiJson<Mirror>,
) -> Result<Json<Mirror>, ApiError> {
    let packs = packs(&apps)?;
    let actor = actor.audit_name();
    let set = tokio::task::spawn_blocking(move || packs.set_registry_mirror(&actor, &req.url))
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))??;
    Ok(Json(Mirror {
        url: set.unwrap_or_default(),
    }))
}
