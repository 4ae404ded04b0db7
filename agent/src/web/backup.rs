//! The backup alerts on every admin page, and the Backups page.
//!
//! Alerts reach every page's layout without each page asking: a middleware reads them from
//! the store (cheap queries, no disk access) and puts them in a task-local for the duration
//! of the request; [`super::Layout::for_admin`] turns them into red banners in the admin's
//! language. No global state: the value lives only while the request is handled.

use crate::backup::{Alert, Backups};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static ALERTS: Vec<Alert>;
}

/// The alerts of the request being handled (empty outside the middleware).
pub fn current_alerts() -> Vec<Alert> {
    ALERTS.try_with(Clone::clone).unwrap_or_default()
}

/// Middleware: makes the backup alerts available to the pages' layout.
pub async fn with_alerts(State(backups): State<Backups>, req: Request, next: Next) -> Response {
    let alerts = if req.uri().path().starts_with("/admin") { backups.alerts().unwrap_or_default() } else { Vec::new() };
    ALERTS.scope(alerts, next.run(req)).await
}
