//! Setup wizard, login and logout, admin accounts and the audit log pages.

use super::PageActor;
use super::{Layout, PageError, check_csrf, local_path, render};
use crate::admins::{AdminError, Admins, SetupRequest};
use crate::audit::Audit;
use crate::auth::{self, CSRF_COOKIE};
use crate::http::ApiError;
use crate::http::cookie::{cookie, session_cookie};
use crate::http::extract::{ClientIp, Https};
use crate::http::language::{admin_language, anonymous_language};
use crate::http::time::format_time;
use crate::i18n::{Messages, messages};
use crate::names::{BoxName, Language, Password, Username};
use crate::status::Status;
use crate::store::AuditEntry;
use askama::Template;
use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// The double-submit token for forms shown before login: the cookie's value if the browser
/// has one, else a new one that the response sets.
fn anonymous_csrf(parts: &Parts) -> (String, Option<HeaderValue>) {
    match cookie(&parts.headers, CSRF_COOKIE).filter(|c| c.len() == 64) {
        Some(existing) => (existing.to_owned(), None),
        None => {
            let token = auth::random_token();
            let header = HeaderValue::from_str(&format!(
                "{CSRF_COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict"
            ))
            .expect("ASCII");
            (token, Some(header))
        }
    }
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Field errors of a form, as catalog keys by field name.
type FieldErrors = HashMap<&'static str, String>;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    t: &'static Messages,
    layout: Layout,
    /// The box started from a Panier USB stick: the page links to the install.
    install_offered: bool,
    values: HashMap<String, String>,
    errors: FieldErrors,
    form_error: String,
}

impl SetupPage {
    fn value(&self, name: &str) -> &str {
        self.values.get(name).map(String::as_str).unwrap_or("")
    }
    fn error(&self, name: &str) -> &str {
        self.errors.get(name).map(String::as_str).unwrap_or("")
    }
}

pub async fn setup_page(
    State(admins): State<Admins>,
    State(status): State<Status>,
    State(install): State<crate::install::Install>,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, _) = req.into_parts();
    let settings = status.box_language();
    let lang = anonymous_language(&parts, settings);
    if admins.setup_done().map_err(|e| PageError::new(e, lang))? {
        return Ok(Redirect::to("/admin/login").into_response());
    }
    let (csrf, set) = anonymous_csrf(&parts);
    let t = messages(lang);
    let mut layout = Layout::new(t, "setup.title", "/admin/setup", None);
    layout.csrf = csrf;
    let mut values = HashMap::new();
    if let Some(name) = status.provisioned_name() {
        values.insert("box_name".to_owned(), name);
    }
    Ok(with_cookie(
        render(&SetupPage {
            t,
            layout,
            install_offered: install.offered(),
            values,
            errors: FieldErrors::new(),
            form_error: String::new(),
        }),
        set,
    ))
}

pub async fn setup_submit(
    State(admins): State<Admins>,
    State(status): State<Status>,
    State(install): State<crate::install::Install>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, body) = req.into_parts();
    let lang = anonymous_language(&parts, status.box_language());
    let Form(form): Form<HashMap<String, String>> =
        Form::from_request(Request::from_parts(parts.clone(), body), &())
            .await
            .map_err(|e| PageError::new(ApiError::BadRequest(e.body_text()), lang))?;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    check_csrf(
        field("csrf"),
        cookie(&parts.headers, CSRF_COOKIE).unwrap_or(""),
    )
    .map_err(|e| PageError::new(e, lang))?;
    let chosen = Language::parse(field("language")).unwrap_or(lang);
    let t = messages(chosen);
    let mut errors = FieldErrors::new();
    let mut note = |name: &'static str, e: crate::names::Invalid| {
        errors.insert(name, t.error(e.key, &e.message).to_owned());
    };
    let box_name = BoxName::parse(field("box_name"))
        .map_err(|e| note("box_name", e))
        .ok();
    let username = Username::parse(field("username"))
        .map_err(|e| note("username", e))
        .ok();
    let password = Password::parse(field("password"))
        .map_err(|e| note("password", e))
        .ok();
    if field("password") != field("password2") {
        errors.insert("password2", t.get("error.passwords_differ").to_owned());
    }
    let redisplay = |errors: FieldErrors, form_error: String| {
        let mut layout = Layout::new(t, "setup.title", "/admin/setup", None);
        layout.csrf = field("csrf").to_owned();
        let mut values: HashMap<String, String> = form.clone();
        values.remove("password");
        values.remove("password2");
        render(&SetupPage {
            t,
            layout,
            install_offered: install.offered(),
            values,
            errors,
            form_error,
        })
    };
    let (Some(box_name), Some(username), Some(password), true) =
        (box_name, username, password, errors.is_empty())
    else {
        return Ok(redisplay(errors, String::new()));
    };
    let req = SetupRequest {
        code: field("code").to_owned(),
        box_name,
        language: chosen,
        username: username.clone(),
        password: password.clone(),
    };
    match admins.setup(req, ip) {
        Ok(()) => {}
        Err(AdminError::SetupDone) => return Ok(Redirect::to("/admin/login").into_response()),
        Err(e @ (AdminError::WrongSetupCode | AdminError::Throttled(_))) => {
            let api = ApiError::from(e);
            let text = t.error(api.status_and_key().1, &api.to_string()).to_owned();
            let mut response = redisplay(FieldErrors::new(), text);
            *response.status_mut() = api.status_and_key().0;
            return Ok(response);
        }
        Err(e) => return Err(PageError::new(e, chosen)),
    }
    // Log the new admin in straight away.
    let session = admins
        .login(username.as_str(), password.expose(), ip)
        .map_err(|e| PageError::new(e, chosen))?;
    let https = parts.extensions.get::<Https>().is_some();
    Ok((
        [(header::SET_COOKIE, session_cookie(&session.token, https))],
        Redirect::to("/admin"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static Messages,
    layout: Layout,
    username: String,
    form_error: String,
    /// Where to go after the login (a local path, see `session::local_path`), or empty.
    next: String,
}

/// The `next` parameter of the login page's address, kept only if it is a local path.
fn next_of(parts: &Parts) -> String {
    let query = parts.uri.query().unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "next")
        .and_then(|(_, v)| local_path(&v).map(str::to_owned))
        .unwrap_or_default()
}

pub async fn login_page(
    State(admins): State<Admins>,
    State(status): State<Status>,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, _) = req.into_parts();
    let lang = anonymous_language(&parts, status.box_language());
    if !admins.setup_done().map_err(|e| PageError::new(e, lang))? {
        return Ok(Redirect::to("/admin/setup").into_response());
    }
    let (csrf, set) = anonymous_csrf(&parts);
    let t = messages(lang);
    let mut layout = Layout::new(
        t,
        "login.title",
        "/admin/login",
        status.box_name().as_deref(),
    );
    layout.csrf = csrf;
    Ok(with_cookie(
        render(&LoginPage {
            t,
            layout,
            username: String::new(),
            form_error: String::new(),
            next: next_of(&parts),
        }),
        set,
    ))
}

pub async fn login_submit(
    State(admins): State<Admins>,
    State(status): State<Status>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, body) = req.into_parts();
    let lang = anonymous_language(&parts, status.box_language());
    let Form(form): Form<HashMap<String, String>> =
        Form::from_request(Request::from_parts(parts.clone(), body), &())
            .await
            .map_err(|e| PageError::new(ApiError::BadRequest(e.body_text()), lang))?;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    check_csrf(
        field("csrf"),
        cookie(&parts.headers, CSRF_COOKIE).unwrap_or(""),
    )
    .map_err(|e| PageError::new(e, lang))?;
    let next = local_path(field("next")).unwrap_or("/admin");
    match admins.login(field("username"), field("password"), ip) {
        Ok(session) => {
            let https = parts.extensions.get::<Https>().is_some();
            Ok((
                [(header::SET_COOKIE, session_cookie(&session.token, https))],
                Redirect::to(next),
            )
                .into_response())
        }
        Err(e @ (AdminError::WrongCredentials | AdminError::Throttled(_))) => {
            let api = ApiError::from(e);
            let (code, key) = api.status_and_key();
            let t = messages(lang);
            let mut layout = Layout::new(
                t,
                "login.title",
                "/admin/login",
                status.box_name().as_deref(),
            );
            layout.csrf = field("csrf").to_owned();
            let form_error = t.error(key, &api.to_string()).to_owned();
            let mut response = render(&LoginPage {
                t,
                layout,
                username: field("username").to_owned(),
                form_error,
                next: local_path(field("next")).unwrap_or("").to_owned(),
            });
            *response.status_mut() = code;
            Ok(response)
        }
        Err(AdminError::SetupNotDone) => Ok(Redirect::to("/admin/setup").into_response()),
        Err(e) => Err(PageError::new(e, lang)),
    }
}

pub async fn logout(
    PageActor(actor): PageActor,
    State(admins): State<Admins>,
    State(status): State<Status>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    check_csrf(
        form.get("csrf").map(String::as_str).unwrap_or(""),
        &session.csrf,
    )
    .map_err(|e| PageError::new(e, lang))?;
    let everywhere = form.get("everywhere").is_some_and(|v| v == "1");
    admins
        .logout(&actor, everywhere)
        .map_err(|e| PageError::new(e, lang))?;
    Ok((
        [(header::SET_COOKIE, session_cookie("", false))],
        Redirect::to("/admin/login"),
    )
        .into_response())
}

pub struct AdminView {
    pub username: String,
    pub created: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "admins.html")]
struct AdminsPage {
    t: &'static Messages,
    layout: Layout,
    admins: Vec<AdminView>,
    notice: String,
    form_error: String,
}

fn admins_view(
    t: &'static Messages,
    layout: Layout,
    admins: &Admins,
    me: &str,
    notice: String,
    form_error: String,
) -> Result<Response, ApiError> {
    let list = admins
        .list()?
        .into_iter()
        .map(|a| AdminView {
            is_me: a.username == me,
            created: format_time(a.created_at),
            username: a.username,
        })
        .collect();
    Ok(render(&AdminsPage {
        t,
        layout,
        admins: list,
        notice,
        form_error,
    }))
}

pub async fn admins_page(
    PageActor(actor): PageActor,
    State(admins): State<Admins>,
    State(status): State<Status>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let layout = Layout::new(
        t,
        "admins.title",
        "/admin/admins",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let me = actor
        .session()
        .map(|s| s.username.clone())
        .unwrap_or_default();
    admins_view(t, layout, &admins, &me, String::new(), String::new())
        .map_err(|e| PageError::new(e, t.language))
}

/// One form endpoint for the admins page; `action` says which form was sent:
/// `add`, `remove`, `password` or `language`.
pub async fn admins_submit(
    PageActor(actor): PageActor,
    State(admins): State<Admins>,
    State(status): State<Status>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    check_csrf(field("csrf"), &session.csrf).map_err(|e| PageError::new(e, lang))?;
    let result: Result<&str, ApiError> = match field("action") {
        "add" => (|| {
            let username =
                Username::parse(field("username")).map_err(|e| ApiError::BadRequest(e.message))?;
            let password =
                Password::parse(field("password")).map_err(|e| ApiError::BadRequest(e.message))?;
            admins.add(&actor, &username, &password)?;
            Ok("admins.added")
        })(),
        "remove" => admins
            .remove(&actor, field("username"))
            .map(|()| "admins.removed")
            .map_err(ApiError::from),
        "password" => (|| {
            let new = Password::parse(field("new")).map_err(|e| ApiError::BadRequest(e.message))?;
            let current = Some(field("current")).filter(|c| !c.is_empty());
            admins.change_password(&actor, field("username"), current, &new)?;
            Ok("admins.password_changed")
        })(),
        "language" => (|| {
            let language =
                Language::parse(field("language")).map_err(|e| ApiError::BadRequest(e.message))?;
            admins.set_language(&actor, language)?;
            Ok("admins.language_saved")
        })(),
        _ => Err(ApiError::BadRequest("unknown form action".into())),
    };
    // A language change applies to this very answer.
    let lang = Language::parse(field("language"))
        .ok()
        .filter(|_| field("action") == "language")
        .unwrap_or(lang);
    let t = messages(lang);
    let layout = Layout::new(
        t,
        "admins.title",
        "/admin/admins",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let (notice, form_error, code) = match &result {
        Ok(key) => (
            t.get(key).to_owned(),
            String::new(),
            axum::http::StatusCode::OK,
        ),
        Err(e) => {
            let (code, key) = e.status_and_key();
            (String::new(), t.error(key, &e.to_string()).to_owned(), code)
        }
    };
    let mut response = admins_view(t, layout, &admins, &session.username, notice, form_error)
        .map_err(|e| PageError::new(e, lang))?;
    *response.status_mut() = code;
    Ok(response)
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    t: &'static Messages,
    layout: Layout,
    entries: Vec<(String, AuditEntry)>,
}

pub async fn audit_page(
    PageActor(actor): PageActor,
    State(audit): State<Audit>,
    State(status): State<Status>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let layout = Layout::new(
        t,
        "audit.title",
        "/admin/audit",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let mut entries: Vec<_> = audit
        .after(0, 200)
        .map_err(|e| PageError::new(e, t.language))?
        .into_iter()
        .map(|e| (format_time(e.at), e))
        .collect();
    entries.reverse();
    Ok(render(&AuditPage { t, layout, entries }))
}
