//! The admin UI's route table, written once: [`router`] is built from it and [`pages`] lists
//! it, so a test walks every `/admin` route without a session and a new page cannot slip
//! through (`agent/tests/pages.rs`).
//!
//! Each route says whether a visitor without a session may use it ([`Who::Anyone`]: setup,
//! login, the language switch, static files) or it is an admin's ([`Who::Admin`], whose handler
//! takes [`PageActor`](super::PageActor) and so sends such a visitor to the login page).

use super::{access, favicon, language_switch, reach, stylesheet};
use super::{
    accounts, apps, backup, catalog, dashboard, firewall, hardware, health, install, packs, update,
};
use crate::state::AppState;
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::Redirect;
use axum::routing::MethodRouter;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Also a visitor without a session.
    Anyone,
    /// A logged-in admin only.
    Admin,
}

/// One route of the admin UI, as [`pages`] lists it.
#[derive(Debug, Clone)]
pub struct Page {
    pub method: Method,
    /// The axum path, with `{param}` placeholders.
    pub path: &'static str,
    pub who: Who,
}

struct Table {
    router: Router<AppState>,
    pages: Vec<Page>,
}

impl Table {
    fn add(
        mut self,
        method: Method,
        path: &'static str,
        who: Who,
        route: MethodRouter<AppState>,
    ) -> Table {
        self.pages.push(Page { method, path, who });
        self.router = self.router.route(path, route);
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, who: Who, h: H) -> Table {
        self.add(Method::GET, path, who, axum::routing::get(h))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        who: Who,
        h: H,
    ) -> Table {
        self.add(Method::POST, path, who, axum::routing::post(h))
    }
}

fn table() -> Table {
    use Who::{Admin, Anyone};
    Table {
        router: Router::new(),
        pages: Vec::new(),
    }
    .get("/", Anyone, || async { Redirect::to("/admin") })
    .get("/favicon.ico", Anyone, favicon)
    .get("/admin/static/favicon.svg", Anyone, favicon)
    .get("/admin/static/panier.css", Anyone, stylesheet)
    .get("/admin/lang", Anyone, language_switch)
    .get("/admin/setup", Anyone, accounts::setup_page)
    .post("/admin/setup", Anyone, accounts::setup_submit)
    .get("/admin/login", Anyone, accounts::login_page)
    .post("/admin/login", Anyone, accounts::login_submit)
    // Before setup, with the setup code; refused once setup is done.
    .get("/admin/setup/restore", Anyone, backup::setup_restore_page)
    .post("/admin/setup/restore", Anyone, backup::setup_restore_submit)
    // Install mode: the setup code before setup, a session after (the handlers check).
    .get("/admin/setup/install", Anyone, install::show)
    .post("/admin/setup/install", Anyone, install::submit)
    .get("/admin/setup/install/sheet", Anyone, install::sheet)
    .post("/admin/logout", Admin, accounts::logout)
    .get("/admin", Admin, dashboard::page)
    .get("/admin/admins", Admin, accounts::admins_page)
    .post("/admin/admins", Admin, accounts::admins_submit)
    .get("/admin/audit", Admin, accounts::audit_page)
    .get("/admin/backups", Admin, backup::page)
    .post("/admin/backups", Admin, backup::submit)
    .get("/admin/backups/kit/{name}", Admin, backup::kit_page)
    .get("/admin/catalog", Admin, catalog::page)
    .get("/admin/catalog/{id}", Admin, catalog::entry)
    .post("/admin/catalog/{id}", Admin, catalog::install)
    .get("/admin/catalog/{id}/icon.svg", Admin, catalog::icon)
    .post("/admin/packs/{action}", Admin, packs::submit)
    .get("/admin/apps/{id}", Admin, apps::page)
    .post("/admin/apps/{id}", Admin, apps::submit)
    .get("/admin/hardware", Admin, hardware::page)
    .get("/admin/health", Admin, health::page)
    .post("/admin/health", Admin, health::submit)
    .get("/admin/update", Admin, update::page)
    .post("/admin/update", Admin, update::submit)
    .get("/admin/firewall", Admin, firewall::page)
    .post("/admin/firewall", Admin, firewall::submit)
    .get("/admin/access", Admin, access::access_page)
    .post("/admin/access", Admin, access::access_submit)
    .post("/admin/access/logo", Admin, access::logo_submit)
    .get("/admin/reach", Admin, reach::reach_page)
    .post("/admin/reach", Admin, reach::reach_submit)
}

/// The admin UI's router.
pub fn router() -> Router<AppState> {
    table().router
}

/// Every route of the admin UI, in the order the router is built.
pub fn pages() -> Vec<Page> {
    table().pages
}
