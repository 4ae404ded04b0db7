//! The box's hardware: probe and verdict.

use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::ApiActor;
use axum::Json;

/// The hardware probe (machine, firmware, CPU, memory, disks with SMART health, network
/// interfaces, sensors) and the fitness verdict, in English.
#[utoipa::path(get, path = "/hardware", tag = "hardware", responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn hardware(_: ApiActor) -> Result<Json<serde_json::Value>, ApiError> {
    let summary = crate::hardware::summary(crate::names::Language::En).await;
    Ok(Json(
        serde_json::to_value(summary).expect("the summary serializes"),
    ))
}
