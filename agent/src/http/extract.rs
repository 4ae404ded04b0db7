//! Request extractors shared by the API and the HTML pages: the client's address, the acting
//! admin (session cookie or local socket), and JSON bodies whose errors name the field.

use super::cookie::cookie;
use crate::admins::{Actor, Admins};
use crate::auth;
use crate::http::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Set on requests that arrived on the local socket, with the peer's uid.
#[derive(Debug, Clone, Copy)]
pub struct LocalPeer {
    pub uid: u32,
}

/// The client's IP address (the TCP peer; `::1` on the local socket).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Through the extractor (not the extension) so that tests' MockConnectInfo applies.
        let ip = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_or(IpAddr::V6(Ipv6Addr::LOCALHOST), |c| c.0.ip());
        Ok(ClientIp(ip))
    }
}

/// The acting admin, or root on the local socket.
///
/// On TCP a live session cookie is required (else 401), and state-changing methods must carry
/// the session's CSRF token in `X-CSRF-Token` (else 403). HTML form handlers extract
/// [`SessionActor`] instead and check the token from the form body.
pub struct ApiActor(pub Actor);

/// Like [`ApiActor`] without the CSRF header check (the HTML form handlers check the form
/// field themselves).
pub struct SessionActor(pub Actor);

async fn actor_from_parts<S>(parts: &Parts, state: &S) -> Result<Actor, ApiError>
where
    Admins: FromRef<S>,
{
    if let Some(peer) = parts.extensions.get::<LocalPeer>() {
        return Ok(Actor::Local { uid: peer.uid });
    }
    let token = cookie(&parts.headers, auth::SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
    let admins = Admins::from_ref(state);
    let session = admins.session(token)?.ok_or(ApiError::Unauthorized)?;
    Ok(Actor::Admin(session))
}

impl<S: Send + Sync> FromRequestParts<S> for SessionActor
where
    Admins: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        actor_from_parts(parts, state).await.map(SessionActor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiActor
where
    Admins: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let actor = actor_from_parts(parts, state).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let (Actor::Admin(session), false) = (&actor, safe) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !auth::same_token(sent, &session.csrf) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(ApiActor(actor))
    }
}

/// Only root on the local socket.
pub struct LocalRoot;

impl<S: Send + Sync> FromRequestParts<S> for LocalRoot
where
    Admins: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<LocalPeer>() {
            Some(LocalPeer { uid: 0 }) => Ok(LocalRoot),
            Some(_) => Err(ApiError::Forbidden),
            // On TCP: 401 without a session, 403 with one (sessions are never root).
            None => actor_from_parts(parts, state)
                .await
                .and(Err(ApiError::Forbidden)),
        }
    }
}

/// A JSON body. Malformed JSON, a wrong type or a missing field is a 400 whose message names
/// the field; a body over the limit is a 413.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge)
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// The TCP peer of the request (`None` on the local socket).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<LocalPeer>().is_some() {
            return Ok(Peer(None));
        }
        Ok(Peer(
            ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|c| c.0),
        ))
    }
}

/// Set on requests that arrived over TLS (cookies then get `Secure`).
#[derive(Debug, Clone, Copy)]
pub struct Https;
