//! The admin web UI: server-rendered HTML under `/admin`, working without JavaScript.
//!
//! Pages are askama templates in `agent/templates/`; every word on them comes from the message
//! catalog (`i18n`). The layout (`base.html`) holds the navigation, the alert banners and the
//! language switch; a later domain adds its page by adding a route to the table in
//! `routes` and an entry to [`NAV`]. Admin pages take [`PageActor`] (`session`): a visitor
//! without a session goes to the login page and comes back after it. Form posts carry a CSRF
//! token: the session's once logged in, a double-submit cookie before (setup and login).
//!
//! Language (`http::language`): the logged-in admin's own, else the `panier_lang` cookie set
//! by the language switch, else the box default (French).

pub mod access;
mod accounts;
mod apps;
pub mod backup;
mod catalog;
mod dashboard;
pub mod diagnostic;
mod firewall;
mod hardware;
mod health;
mod install;
mod markdown;
mod packs;
pub mod reach;
mod routes;
mod session;
mod update;

pub use routes::{Page, Who, pages, router};
pub use session::{PageActor, local_path, login_url};

use crate::admins::Actor;
use crate::auth;
use crate::http::ApiError;
use crate::http::language::LANG_COOKIE;
use crate::i18n::{Messages, messages};
use crate::names::Language;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

/// The navigation: catalog key of the label, and the page's path.
pub const NAV: &[(&str, &str)] = &[
    ("nav.dashboard", "/admin"),
    ("health.nav", "/admin/health"),
    ("apps.nav", "/admin/catalog"),
    ("nav.backups", "/admin/backups"),
    ("nav.firewall", "/admin/firewall"),
    ("access.nav", "/admin/access"),
    ("reach.nav", "/admin/reach"),
    ("nav.hardware", "/admin/hardware"),
    ("update.nav", "/admin/update"),
    ("nav.admins", "/admin/admins"),
    ("nav.audit", "/admin/audit"),
];

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../static/panier.css"),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct LangQuery {
    to: String,
    #[serde(default)]
    back: String,
}

/// The box's icon: the admin pages and the portal link it, and browsers ask `/favicon.ico`.
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("../../static/favicon.svg"),
    )
        .into_response()
}

/// `GET /admin/lang?to=en&back=/admin/login`: remembers the choice in a cookie and goes back.
async fn language_switch(axum::extract::Query(q): axum::extract::Query<LangQuery>) -> Response {
    let lang = Language::parse(&q.to).unwrap_or_default();
    // Only local paths, so the switch cannot be used to send people elsewhere.
    let back = local_path(&q.back).unwrap_or("/admin");
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000",
        lang.code()
    );
    (
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("ASCII"),
        )],
        Redirect::to(back),
    )
        .into_response()
}

/// One entry of the navigation, as the layout shows it.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// A red banner shown on every admin page (backup alerts, critical health issues).
pub struct Banner {
    pub text: String,
}

/// What `base.html` needs on every page.
pub struct Layout {
    pub lang: &'static str,
    pub title: String,
    pub path: String,
    pub box_name: String,
    pub user: Option<String>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    pub banners: Vec<Banner>,
}

impl Layout {
    pub fn new(
        t: &'static Messages,
        title_key: &str,
        path: &str,
        box_name: Option<&str>,
    ) -> Layout {
        Layout {
            lang: t.code(),
            title: t.get(title_key).to_owned(),
            path: path.to_owned(),
            box_name: box_name.unwrap_or("panier").to_owned(),
            user: None,
            csrf: String::new(),
            nav: Vec::new(),
            banners: Vec::new(),
        }
    }

    /// Adds what a logged-in admin sees: their name, the navigation, the CSRF token.
    pub fn for_admin(mut self, t: &'static Messages, actor: &Actor) -> Layout {
        if let Some(s) = actor.session() {
            self.user = Some(s.username.clone());
            self.csrf = s.csrf.clone();
        }
        self.nav = NAV
            .iter()
            .map(|(key, href)| NavItem {
                label: t.get(key),
                href,
                current: *href == self.path,
            })
            .collect();
        for a in backup::current_alerts()
            .iter()
            .filter(|a| a.key != "backup_kit_unconfirmed")
        {
            let hours = a.hours.map(|h| h.to_string()).unwrap_or_default();
            let args = [("target", a.target.as_str()), ("hours", hours.as_str())];
            let text = format!(
                "{} {}",
                t.fmt(&format!("health.{}.what", a.key), &args),
                t.fmt(&format!("health.{}.fix", a.key), &args)
            );
            self.banners.push(Banner { text });
        }
        self
    }
}

/// Renders a template into a response.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            log::error!("cannot render a page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'static Messages,
    layout: Layout,
    message: &'a str,
}

/// An error while serving a page: a redirect to the login for 401, else a page that says what
/// went wrong in the visitor's language.
pub struct PageError {
    pub error: ApiError,
    pub language: Language,
}

impl PageError {
    pub fn new(error: impl Into<ApiError>, language: Language) -> PageError {
        PageError {
            error: error.into(),
            language,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, key) = self.error.status_and_key();
        if status == StatusCode::UNAUTHORIZED && key == "unauthorized" {
            return Redirect::to("/admin/login").into_response();
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            log::error!("{}", self.error);
        }
        let t = messages(self.language);
        let fallback = self.error.to_string();
        error_page(t, status, t.error(key, &fallback))
    }
}

/// The error page with a message already in the visitor's language.
pub fn error_page(t: &'static Messages, status: StatusCode, message: &str) -> Response {
    let mut response = render(&ErrorPage {
        t,
        layout: Layout::new(t, "error.title", "", None),
        message,
    });
    *response.status_mut() = status;
    response
}

/// Checks a form's CSRF field against the expected token.
/// A form post is an admin's own: a session (root on the socket posts no forms) whose CSRF
/// token the form carries.
pub fn check_form(actor: &Actor, sent: &str, lang: Language) -> Result<(), PageError> {
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    check_csrf(sent, &session.csrf).map_err(|e| PageError::new(e, lang))
}

pub fn check_csrf(sent: &str, expected: &str) -> Result<(), ApiError> {
    if !expected.is_empty() && auth::same_token(sent, expected) {
        Ok(())
    } else {
        Err(ApiError::Csrf)
    }
}
