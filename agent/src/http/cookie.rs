//! Reading a request's cookies and writing the session cookie.

use crate::auth;
use axum::http::{HeaderMap, HeaderValue};

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value for a session token (or its removal when `token` is empty).
pub fn session_cookie(token: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let expiry = if token.is_empty() { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}{expiry}",
        auth::SESSION_COOKIE
    ))
    .expect("cookie is ASCII")
}
