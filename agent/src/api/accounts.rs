//! Setup, login and logout, and the admin accounts.

use crate::admins::{Admins, SetupRequest};
use crate::http::cookie::session_cookie;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ClientIp, Https};
use crate::names::{Language, Password, Username};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Completes first-boot setup: checks the setup code, names the box, sets its language and
/// creates the first admin. Answers 409 once setup is done.
#[utoipa::path(post, path = "/setup", tag = "setup", security(()), request_body = SetupRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn setup(
    State(admins): State<Admins>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<SetupRequest>,
) -> Result<StatusCode, ApiError> {
    admins.setup(req, ip)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub username: String,
    /// Send it back in `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
}

/// Opens a session (cookie `panier_session`). Failures are throttled per address.
#[utoipa::path(post, path = "/login", tag = "session", security(()), request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(admins): State<Admins>,
    ClientIp(ip): ClientIp,
    https: Option<axum::Extension<Https>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let session = admins.login(&req.username, &req.password, ip)?;
    let mut response = Json(LoginResponse {
        username: session.username,
        csrf_token: session.csrf,
    })
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&session.token, https.is_some()),
    );
    Ok(response)
}

/// Ends this session.
#[utoipa::path(post, path = "/logout", tag = "session", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    ApiActor(actor): ApiActor,
    State(admins): State<Admins>,
) -> Result<Response, ApiError> {
    admins.logout(&actor, false)?;
    Ok((
        [(header::SET_COOKIE, session_cookie("", false))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// Ends every session of the current admin, on every device.
#[utoipa::path(post, path = "/logout-everywhere", tag = "session", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout_everywhere(
    ApiActor(actor): ApiActor,
    State(admins): State<Admins>,
) -> Result<Response, ApiError> {
    admins.logout(&actor, true)?;
    Ok((
        [(header::SET_COOKIE, session_cookie("", false))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminInfo {
    pub username: String,
    pub language: Option<String>,
    /// Unix time in seconds.
    pub created_at: i64,
}

/// The admin accounts.
#[utoipa::path(get, path = "/admins", tag = "admins", responses((status = 200, body = Vec<AdminInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_admins(
    _: ApiActor,
    State(admins): State<Admins>,
) -> Result<Json<Vec<AdminInfo>>, ApiError> {
    let list = admins.list()?;
    Ok(Json(
        list.into_iter()
            .map(|a| AdminInfo {
                username: a.username,
                language: a.language,
                created_at: a.created_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub username: Username,
    pub password: Password,
}

/// Adds an admin.
#[utoipa::path(post, path = "/admins", tag = "admins", request_body = NewAdmin,
    responses((status = 201), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_admin(
    ApiActor(actor): ApiActor,
    State(admins): State<Admins>,
    ApiJson(req): ApiJson<NewAdmin>,
) -> Result<StatusCode, ApiError> {
    admins.add(&actor, &req.username, &req.password)?;
    Ok(StatusCode::CREATED)
}

/// Removes an admin (never the last one).
#[utoipa::path(delete, path = "/admins/{username}", tag = "admins", params(("username" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove_admin(
    ApiActor(actor): ApiActor,
    State(admins): State<Admins>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    admins.remove(&actor, &username)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required when changing one's own password.
    pub current: Option<String>,
    pub new: Password,
}

/// Changes an admin's password; their other sessions end.
#[utoipa::path(put, path = "/admins/{username}/password", tag = "admins", params(("username" = String, Path)), request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn change_password(
    ApiActor(actor): ApiActor,
    State(admins): State<Admins>,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    admins.change_password(&actor, &username, req.current.as_deref(), &req.new)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageChoice {
    pub language: Language,
}

/// Sets the current admin's language.
#[utoipa::path(put, path = "/me/language", tag = "session", request_body = LanguageChoice,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set_language(
    ApiActor(actor): ApiActor,
    State(admins): State<Admins>,
    ApiJson(req): ApiJson<LanguageChoice>,
) -> Result<StatusCode, ApiError> {
    admins.set_language(&actor, req.language)?;
    Ok(StatusCode::NO_CONTENT)
}
