//! Diagnostic mode's web side: every admin page shows what happened to the database, where it
//! was kept, and how to recover. The health endpoint keeps answering (`"status":"diagnostic"`).

use super::{Layout, render};
use crate::http::ApiError;
use crate::i18n::{Messages, messages};
use crate::status::Status;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

#[derive(Template)]
#[template(path = "diagnostic.html")]
struct DiagnosticPage {
    t: &'static Messages,
    layout: Layout,
    reason: String,
    detail: String,
    kept: Vec<String>,
    data_dir: String,
}

async fn page(State(status): State<Status>, req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    let t = messages(crate::http::language::anonymous_language(
        &parts,
        Default::default(),
    ));
    let Some(d) = status.diagnosis() else {
        return Redirect::to("/admin").into_response();
    };
    let reason = t.get(&format!("diagnostic.reason.{}", d.reason)).to_owned();
    let page = DiagnosticPage {
        t,
        layout: Layout::new(t, "diagnostic.title", "/admin/diagnostic", None),
        reason,
        detail: d.detail.clone(),
        kept: d
            .kept_aside
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        data_dir: status.data_dir().display().to_string(),
    };
    let mut response = render(&page);
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// The router served in diagnostic mode, on the admin address and on the local socket.
pub fn router(status: Status) -> Router {
    Router::new()
        .route(
            "/api/v1/health",
            get(|State(s): State<Status>| async move {
                s.health_answer(false)
                    .map(axum::Json)
                    .map_err(ApiError::from)
            }),
        )
        .route(
            "/api/v1/status",
            get(|State(s): State<Status>| async move {
                s.report().map(axum::Json).map_err(ApiError::from)
            }),
        )
        .route("/admin/static/panier.css", get(super::stylesheet))
        .route(
            "/admin/lang",
            get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let to = q.get("to").cloned().unwrap_or_default();
                    let cookie = format!(
                        "{}={}; Path=/; SameSite=Strict",
                        crate::http::language::LANG_COOKIE,
                        crate::names::Language::parse(&to)
                            .unwrap_or_default()
                            .code()
                    );
                    (
                        [(axum::http::header::SET_COOKIE, cookie)],
                        Redirect::to("/admin/diagnostic"),
                    )
                        .into_response()
                },
            ),
        )
        .route("/admin/diagnostic", get(page))
        .fallback(|uri: axum::http::Uri| async move {
            if uri.path().starts_with("/api/") {
                ApiError::Diagnostic.into_response()
            } else {
                Redirect::to("/admin/diagnostic").into_response()
            }
        })
        .with_state(status)
}
