//! A page's visitor: the logged-in admin, or a redirect to the login page that comes back.
//!
//! Every `/admin` page handler takes [`PageActor`]; a visitor without a session is sent to
//! `/admin/setup` before setup and to `/admin/login?next=<where they were>` after, never given
//! the API's JSON 401. `next` is checked by [`local_path`] both when it is written and when the
//! login form follows it, so the login page cannot be used to send people to another site.

use crate::admins::{Actor, Admins};
use crate::http::ApiError;
use crate::http::extract::SessionActor;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};

/// A logged-in admin for a page (root on the local socket too).
pub struct PageActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for PageActor
where
    Admins: FromRef<S>,
{
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match SessionActor::from_request_parts(parts, state).await {
            Ok(SessionActor(actor)) => Ok(PageActor(actor)),
            Err(ApiError::Unauthorized) => {
                if let Ok(false) = Admins::from_ref(state).setup_done() {
                    return Err(Redirect::to("/admin/setup").into_response());
                }
                Err(Redirect::to(&login_url(coming_from(parts))).into_response())
            }
            Err(e) => Err(super::PageError::new(e, Default::default()).into_response()),
        }
    }
}

/// Where the visitor should come back to: the page itself for a GET; for a form post, the
/// page the form was on (its `Referer`), as a post cannot be replayed after the login.
fn coming_from(parts: &Parts) -> Option<String> {
    if matches!(parts.method, Method::GET | Method::HEAD) {
        let here = parts.uri.path_and_query().map(|p| p.as_str())?;
        return local_path(here).map(str::to_owned);
    }
    let referer = parts.headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    local_path(&path).map(str::to_owned)
}

/// The login page's address, with `next` when there is somewhere to come back to.
pub fn login_url(next: Option<String>) -> String {
    match next.as_deref().and_then(local_path) {
        Some(next) if next != "/admin/login" => format!(
            "/admin/login?{}",
            serde_urlencoded::to_string([("next", next)]).expect("a string pair encodes")
        ),
        _ => "/admin/login".to_owned(),
    }
}

/// `path` if it is a path of the admin UI on this very box (`/admin`, `/admin/…`,
/// `/admin?…`) made only of visible ASCII, else `None`. A leading `/admin` rules out
/// `//other.site` and `/\other.site`, which browsers read as another host.
pub fn local_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/admin")?;
    let well_placed = rest.is_empty() || rest.starts_with('/') || rest.starts_with('?');
    let visible = path.bytes().all(|b| b.is_ascii_graphic());
    (well_placed && visible && path.len() <= 2048).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admin_paths_on_this_box_are_followed() {
        for good in [
            "/admin",
            "/admin/backups",
            "/admin/catalog?need=write",
            "/admin/apps/pad",
        ] {
            assert_eq!(local_path(good), Some(good));
        }
        for bad in [
            "//evil.example/admin",
            "/\\evil.example",
            "https://evil.example/admin",
            "/administrator",
            "/admin/x\r\nSet-Cookie: a=b",
            "/admin/ x",
            "admin",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_login_url_carries_next_encoded() {
        assert_eq!(
            login_url(Some("/admin/catalog?need=write&x=1".into())),
            "/admin/login?next=%2Fadmin%2Fcatalog%3Fneed%3Dwrite%26x%3D1"
        );
        assert_eq!(login_url(Some("//evil.example".into())), "/admin/login");
        assert_eq!(login_url(None), "/admin/login");
    }
}
