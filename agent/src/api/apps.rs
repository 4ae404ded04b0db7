//! The catalog, installed services, their jobs and logs.

use crate::admins::Actor;
use crate::apps::{AppStatus, Apps, CatalogCard};
use crate::catalog::AppId;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson};
use crate::names::Language;
use crate::status::Status;
use crate::store::JobRow;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn language(actor: &Actor, status: &Status) -> Language {
    crate::http::language::admin_language(actor, status.box_language())
}

fn app_id(id: &str) -> Result<AppId, ApiError> {
    AppId::parse(id).map_err(|e| ApiError::BadRequest(e.message))
}

/// The catalog, with whether each service fits on this box now.
#[utoipa::path(get, path = "/catalog", tag = "services", responses((status = 200, body = Vec<CatalogCard>), (status = 401, body = ErrorBody)))]
pub async fn catalog(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
) -> Json<Vec<CatalogCard>> {
    Json(apps.catalog_cards(language(&actor, &status)))
}

/// One catalog entry with its settings (the install form).
#[utoipa::path(get, path = "/catalog/{id}", tag = "services", responses((status = 200, body = CatalogCard), (status = 404, body = ErrorBody)))]
pub async fn catalog_entry(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(id): Path<String>,
) -> Result<Json<CatalogCard>, ApiError> {
    Ok(Json(apps.catalog_card(&id, language(&actor, &status))?))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobStarted {
    pub job: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    pub app: String,
    /// Setting name → value as text (booleans: true/false).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// Installed services (from the last observation).
#[utoipa::path(get, path = "/apps", tag = "services", responses((status = 200, body = Vec<AppStatus>), (status = 401, body = ErrorBody)))]
pub async fn list(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
) -> Json<Vec<AppStatus>> {
    Json(apps.list(language(&actor, &status)))
}

/// Installs a service: answers 202 with the job to follow.
#[utoipa::path(post, path = "/apps", tag = "services", request_body = InstallRequest,
    responses((status = 202, body = JobStarted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody), (status = 507, body = ErrorBody)))]
pub async fn install(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    ApiJson(req): ApiJson<InstallRequest>,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let job = apps.install_audited(&req.app, &req.settings, &actor.audit_name())?;
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job })))
}

/// One installed service, with fresh readings.
#[utoipa::path(get, path = "/apps/{id}", tag = "services", responses((status = 200, body = AppStatus), (status = 404, body = ErrorBody)))]
pub async fn show(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    State(status): State<Status>,
    Path(id): Path<String>,
) -> Result<Json<AppStatus>, ApiError> {
    Ok(Json(
        apps.status(&app_id(&id)?, language(&actor, &status))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RemoveQuery {
    /// Also delete the service's data (files, databases, secrets).
    #[serde(default)]
    pub delete_data: bool,
    /// With `delete_data`: the service's id again, as confirmation.
    pub confirm: Option<String>,
}

/// Uninstalls a service; its data is kept unless `delete_data` is confirmed.
#[utoipa::path(delete, path = "/apps/{id}", tag = "services", params(RemoveQuery),
    responses((status = 202, body = JobStarted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let app = app_id(&id)?;
    let job = apps.remove_audited(
        &app,
        q.delete_data,
        q.confirm.as_deref(),
        &actor.audit_name(),
    )?;
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job })))
}

/// `start`, `stop`, `restart` or `update`.
#[utoipa::path(post, path = "/apps/{id}/{action}", tag = "services",
    responses((status = 202, body = JobStarted), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn action(
    ApiActor(actor): ApiActor,
    State(apps): State<Apps>,
    Path((id, action)): Path<(String, String)>,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let app = app_id(&id)?;
    let Some(result) = apps.action(&app, &action, &actor.audit_name()) else {
        return Err(ApiError::BadRequest(format!(
            "unknown action '{action}': start, stop, restart or update"
        )));
    };
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job: result? })))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LogsQuery {
    /// Lines per container (default 100, at most 2000).
    pub tail: Option<usize>,
}

/// The last lines of the service's containers' logs.
#[utoipa::path(get, path = "/apps/{id}/logs", tag = "services", params(LogsQuery), responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)))]
pub async fn logs(
    _: ApiActor,
    State(apps): State<Apps>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(
        apps.logs(&app_id(&id)?, q.tail.unwrap_or(100).clamp(1, 2000))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct JobsQuery {
    pub app: Option<String>,
    pub limit: Option<i64>,
}

/// Recent jobs, newest first.
#[utoipa::path(get, path = "/jobs", tag = "services", params(JobsQuery), responses((status = 200, body = Vec<JobRow>)))]
pub async fn jobs(
    _: ApiActor,
    State(apps): State<Apps>,
    Query(q): Query<JobsQuery>,
) -> Result<Json<Vec<JobRow>>, ApiError> {
    let app = q.app.as_deref().map(app_id).transpose()?;
    Ok(Json(
        apps.jobs()
            .list(app.as_ref(), q.limit.unwrap_or(20).clamp(1, 500))?,
    ))
}

/// One job: its step, percentage and result.
#[utoipa::path(get, path = "/jobs/{id}", tag = "services", responses((status = 200, body = JobRow), (status = 404, body = ErrorBody)))]
pub async fn job(
    _: ApiActor,
    State(apps): State<Apps>,
    Path(id): Path<i64>,
) -> Result<Json<JobRow>, ApiError> {
    apps.jobs().get(id)?.map(Json).ok_or(ApiError::NotFound)
}
