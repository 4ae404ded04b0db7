//! The health centre: every check with its state, what it means and what to do.

use crate::health::{Health, HealthReport};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiActor;
use axum::Json;
use axum::extract::State;

/// Every health check, now (SMART as of its last background probe).
#[utoipa::path(get, path = "/health/checks", tag = "system",
    responses((status = 200, body = HealthReport), (status = 401, body = ErrorBody)))]
pub async fn checks(
    _: ApiActor,
    State(health): State<Health>,
) -> Result<Json<HealthReport>, ApiError> {
    Ok(Json(health.report()))
}
