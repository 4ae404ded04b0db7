//! The JSON API under `/api/v1`, used by the CLI (over the local socket) and by the admin UI's
//! enhancements (over HTTP with a session cookie). Its OpenAPI document is generated from the
//! handlers (utoipa) and served at `/api/v1/openapi.json`.
//!
//! Invariants: every route requires a session or the local socket, except the ones marked
//! `security(())` (health, setup, login) — a test enumerates the document to enforce it.
//! Install mode's routes also accept, before setup, the setup code in `X-Setup-Code`.
//! Handlers only validate, call a domain handle and map its errors through [`ApiError`] (shared with the pages, `crate::http`).

mod access;
mod accounts;
mod apps;
pub mod backup;
pub mod firewall;
mod hardware;
mod health;
pub mod install;
mod notify;
mod packs;
mod reach;
pub mod system;
pub mod update;

use crate::http::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Panier", description = "The local API of a Panier box. Sessions come from POST /api/v1/login; state-changing requests made with a session carry its CSRF token in X-CSRF-Token."),
    modifiers(&SessionCookie),
    security(("session" = [])),
    components(schemas(ErrorBody)),
)]
struct ApiDoc;

struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
        // Install mode before setup (`api::install`): the box's setup code in a header.
        components.add_security_scheme(
            "setup_code",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Setup-Code"))),
        );
    }
}

/// The API's routes (unprefixed) and their OpenAPI document.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system::health))
        .routes(routes!(system::status))
        .routes(routes!(health::checks))
        .routes(routes!(notify::show, notify::set, notify::clear))
        .routes(routes!(notify::test))
        .routes(routes!(system::setup_code))
        .routes(routes!(system::audit))
        .routes(routes!(accounts::setup))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::logout_everywhere))
        .routes(routes!(accounts::list_admins, accounts::add_admin))
        .routes(routes!(accounts::remove_admin))
        .routes(routes!(accounts::change_password))
        .routes(routes!(accounts::set_language))
        .routes(routes!(backup::status))
        .routes(routes!(backup::list_targets, backup::add_target))
        .routes(routes!(backup::remove_target))
        .routes(routes!(backup::kit))
        .routes(routes!(backup::confirm_kit))
        .routes(routes!(backup::snapshots))
        .routes(routes!(backup::file))
        .routes(routes!(backup::run))
        .routes(routes!(backup::restore))
        .routes(routes!(backup::check))
        .routes(routes!(backup::schedule))
        .routes(routes!(backup::usb_disks))
        .routes(routes!(backup::format_usb))
        .routes(routes!(backup::ssh_key))
        .routes(routes!(backup::restore_box))
        .routes(routes!(hardware::hardware))
        .routes(routes!(install::view, install::start))
        .routes(routes!(install::sheet))
        .routes(routes!(install::restart))
        .routes(routes!(apps::catalog))
        .routes(routes!(apps::catalog_entry))
        .routes(routes!(apps::list, apps::install))
        .routes(routes!(apps::show, apps::remove))
        .routes(routes!(apps::action))
        .routes(routes!(apps::logs))
        .routes(routes!(apps::jobs))
        .routes(routes!(apps::job))
        .routes(routes!(firewall::show))
        .routes(routes!(firewall::live))
        .routes(routes!(firewall::reload))
        .routes(routes!(firewall::set_exposure))
        .routes(routes!(firewall::set_lan))
        .routes(routes!(firewall::set_ssh))
        .routes(routes!(firewall::confirm))
        .routes(routes!(firewall::blocked))
        .routes(routes!(access::report))
        .routes(routes!(access::texts, access::set_texts))
        .routes(routes!(access::clear_renames))
        .routes(routes!(packs::view))
        .routes(routes!(packs::import))
        .routes(routes!(packs::update))
        .routes(routes!(packs::keys, packs::add_key))
        .routes(routes!(packs::remove_key))
        .routes(routes!(packs::set_mirror))
        .routes(routes!(update::status))
        .routes(routes!(update::check))
        .routes(routes!(update::install))
        .routes(routes!(update::restart))
        .routes(routes!(update::settings))
        .routes(routes!(reach::view))
        .routes(routes!(reach::set_domain))
        .routes(routes!(reach::set_name))
        .routes(routes!(reach::set_acme))
        .routes(routes!(reach::diagnosis))
        .routes(routes!(reach::relay, reach::join_relay, reach::leave_relay))
        .routes(routes!(reach::relay_server_config))
        .routes(routes!(update::usb))
        .routes(routes!(update::usb_install))
}

/// `/api/v1/…` with its document at `/api/v1/openapi.json`.
pub fn router() -> Router<AppState> {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api())
        .split_for_parts();
    let doc = std::sync::Arc::new(doc);
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::NotFound })
}

/// The OpenAPI document, for tests and `panier` tooling.
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api())
        .into_openapi()
}
