//! Every `/admin` page without a session, walked from the router's own table
//! (`panier::web::pages`): an admin page sends the visitor to the setup page before setup and to
//! the login page after it, with `next` pointing back, and the login brings them back there.
//! No page ever answers the API's JSON.

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use panier::config::Config;
use panier::daemon;
use panier::store::Store;
use panier::web::{Page, Who, pages};
use std::net::SocketAddr;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }
    fn is_json(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.to_str().unwrap().contains("json"))
    }
}

async fn send(router: &Router, req: Request<Body>) -> Answer {
    let addr: SocketAddr = "192.0.2.20:40000".parse().unwrap();
    let response = router
        .clone()
        .layer(MockConnectInfo(addr))
        .oneshot(req)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned(),
    }
}

/// The page's address with each `{param}` filled in.
fn uri_of(page: &Page) -> String {
    let mut uri = String::new();
    for segment in page.path.split_inclusive('/') {
        if segment.starts_with('{') {
            uri.push_str(if segment.ends_with('/') { "x/" } else { "x" });
        } else {
            uri.push_str(segment);
        }
    }
    uri
}

fn request(method: &Method, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("csrf=x"))
        .unwrap()
}

/// A cookie's `name=value` from a response's `Set-Cookie` headers.
fn cookie_from(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
}

/// Logs in through the login form from `login` (the login page's answer), sending `next`.
async fn log_in_from(web: &Router, login: &Answer, next: &str) -> Answer {
    let csrf = cookie_from(&login.headers, "panier_csrf");
    let token = csrf.split_once('=').unwrap().1;
    let form = serde_urlencoded::to_string([
        ("csrf", token),
        ("username", "camille"),
        ("password", "un mot de passe"),
        ("next", next),
    ])
    .unwrap();
    send(
        web,
        Request::post("/admin/login")
            .header(header::COOKIE, &csrf)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap(),
    )
    .await
}

/// A box after setup, with its router.
async fn set_up(dir: &std::path::Path) -> Router {
    let (routers, code) = daemon::build(Store::memory(), &Config::with_data_dir(dir)).unwrap();
    let setup = serde_json::json!({"code": code.unwrap().display(), "box_name": "biblio",
        "username": "camille", "password": "un mot de passe"});
    let a = send(
        &routers.web,
        Request::post("/api/v1/setup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(setup.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    routers.web
}

fn admin_pages() -> Vec<Page> {
    pages()
        .into_iter()
        .filter(|p| p.who == Who::Admin)
        .collect()
}

#[test]
fn the_table_lists_the_pages_and_only_declared_ones_are_public() {
    let mut public: Vec<String> = pages()
        .iter()
        .filter(|p| p.who == Who::Anyone)
        .map(|p| format!("{} {}", p.method, p.path))
        .collect();
    public.sort();
    assert_eq!(
        public,
        [
            "GET /",
            "GET /admin/lang",
            "GET /admin/login",
            "GET /admin/setup",
            "GET /admin/setup/install",
            "GET /admin/setup/install/sheet",
            "GET /admin/setup/restore",
            "GET /admin/static/favicon.svg",
            "GET /admin/static/panier.css",
            "GET /favicon.ico",
            "POST /admin/login",
            "POST /admin/setup",
            "POST /admin/setup/install",
            "POST /admin/setup/restore",
        ],
        "a page open without a session must be declared here, with its reason in web/routes.rs"
    );
    let paths: Vec<&str> = admin_pages().iter().map(|p| p.path).collect();
    for nav in [
        "/admin",
        "/admin/catalog",
        "/admin/backups",
        "/admin/firewall",
        "/admin/access",
        "/admin/hardware",
        "/admin/admins",
        "/admin/audit",
    ] {
        assert!(paths.contains(&nav), "{nav} is an admin page: {paths:?}");
    }
}

#[tokio::test]
async fn every_admin_page_without_a_session_goes_to_login_and_back() {
    // Before setup, every admin page leads to the setup page.
    let dir = tempfile::tempdir().unwrap();
    let (routers, _) = daemon::build(Store::memory(), &Config::with_data_dir(dir.path())).unwrap();
    for page in admin_pages() {
        let a = send(&routers.web, request(&page.method, &uri_of(&page))).await;
        assert_eq!(
            (a.status, a.location()),
            (StatusCode::SEE_OTHER, "/admin/setup"),
            "{} {} before setup: {}",
            page.method,
            page.path,
            a.body
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let web = set_up(dir.path()).await;
    let mut walked = 0;
    for page in admin_pages() {
        let uri = uri_of(&page);
        let a = send(&web, request(&page.method, &uri)).await;
        let what = format!("{} {uri}", page.method);
        assert!(!a.is_json(), "{what} answered JSON: {}", a.body);
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{what}: {}", a.body);
        if page.method != Method::GET {
            // A form post cannot be replayed: without a Referer, the login leads home.
            assert_eq!(a.location(), "/admin/login", "{what}");
            continue;
        }
        let next = serde_urlencoded::to_string([("next", uri.as_str())]).unwrap();
        assert_eq!(a.location(), format!("/admin/login?{next}"), "{what}");

        // The login page keeps `next` in its form, and the login follows it.
        let login = send(&web, request(&Method::GET, a.location())).await;
        assert_eq!(login.status, StatusCode::OK, "{what}: {}", login.body);
        let hidden = format!("<input type=\"hidden\" name=\"next\" value=\"{uri}\">");
        assert!(login.body.contains(&hidden), "{what}: {}", login.body);
        let back = log_in_from(&web, &login, &uri).await;
        assert_eq!(
            (back.status, back.location()),
            (StatusCode::SEE_OTHER, uri.as_str()),
            "{what}: {}",
            back.body
        );
        walked += 1;
    }
    assert!(walked >= 12, "only {walked} pages walked");

    // A form posted after the session ended comes back to the page it was on.
    let a = send(
        &web,
        Request::post("/admin/backups")
            .header(
                header::REFERER,
                "https://biblio.local/admin/backups?tab=targets",
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        a.location(),
        "/admin/login?next=%2Fadmin%2Fbackups%3Ftab%3Dtargets"
    );
}

#[tokio::test]
async fn the_login_refuses_to_send_people_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let web = set_up(dir.path()).await;
    for evil in [
        "//evil.example/admin",
        "https://evil.example/",
        "/\\evil.example",
        "/administrator",
    ] {
        let next = serde_urlencoded::to_string([("next", evil)]).unwrap();
        let login = send(&web, request(&Method::GET, &format!("/admin/login?{next}"))).await;
        assert!(!login.body.contains("name=\"next\""), "{evil}");
        let back = log_in_from(&web, &login, evil).await;
        assert_eq!(
            (back.status, back.location()),
            (StatusCode::SEE_OTHER, "/admin"),
            "{evil}"
        );
    }
}
