//! Health, status, the setup code and the audit log.

use crate::audit::Audit;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, LocalRoot};
use crate::status::{Health, Status, StatusReport};
use crate::store::AuditEntry;
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

/// Whether the agent is up, its version and whether setup is done. No session needed.
#[utoipa::path(get, path = "/health", tag = "system", security(()), responses((status = 200, body = Health)))]
pub async fn health(
    State(status): State<Status>,
    State(install): State<crate::install::Install>,
) -> Result<Json<Health>, ApiError> {
    Ok(Json(status.health_answer(install.offered())?))
}

/// The dashboard's figures: box, readings, health issues, diagnosis.
#[utoipa::path(get, path = "/status", tag = "system", responses((status = 200, body = StatusReport), (status = 401, body = ErrorBody)))]
pub async fn status(
    _: ApiActor,
    State(status): State<Status>,
) -> Result<Json<StatusReport>, ApiError> {
    Ok(Json(status.report()?))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SetupCodeBody {
    /// The code, grouped for reading (`ABCDE-FGHJK`), or null once setup is done.
    pub code: Option<String>,
}

/// The one-time setup code. Only root on the local socket may read it.
#[utoipa::path(get, path = "/setup-code", tag = "setup", responses((status = 200, body = SetupCodeBody), (status = 403, body = ErrorBody)))]
pub async fn setup_code(
    _: LocalRoot,
    State(admins): State<crate::admins::Admins>,
) -> Result<Json<SetupCodeBody>, ApiError> {
    Ok(Json(SetupCodeBody {
        code: admins.setup_code()?.map(|c| c.display()),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Only entries with a greater id (for following the log).
    #[serde(default)]
    pub after: i64,
    /// At most this many (the latest ones); default 100, at most 1000.
    pub limit: Option<i64>,
}

/// The audit log: who did what, when, with what result.
#[utoipa::path(get, path = "/audit", tag = "system", params(AuditQuery), responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = ErrorBody)))]
pub async fn audit(
    _: ApiActor,
    State(audit): State<Audit>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(
        audit.after(q.after, q.limit.unwrap_or(100).clamp(1, 1000))?,
    ))
}
