//! The HTTP router called in-process: authentication on every route, CSRF, throttling, body
//! limits and error shapes.

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use panier::config::Config;
use panier::daemon;
use panier::store::Store;
use std::net::SocketAddr;
use tower::ServiceExt;

struct Box_ {
    web: Router,
    code: String,
    _dir: tempfile::TempDir,
}

fn new_box() -> Box_ {
    let dir = tempfile::tempdir().unwrap();
    let (routers, code) =
        daemon::build(Store::memory(), &Config::with_data_dir(dir.path())).unwrap();
    Box_ {
        web: routers.web,
        code: code.unwrap().display(),
        _dir: dir,
    }
}

fn from(router: &Router, ip: &str) -> Router {
    router.clone().layer(MockConnectInfo(
        format!("{ip}:40000").parse::<SocketAddr>().unwrap(),
    ))
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = from(router, "192.0.2.10").oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes().to_vec(),
    )
}

fn json_req(method: &str, uri: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn setup(b: &Box_) {
    let body = serde_json::json!({"code": b.code, "box_name": "biblio", "username": "camille", "password": "un mot de passe"});
    let (status, _, text) = send(&b.web, json_req("POST", "/api/v1/setup", body)).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&text)
    );
}

/// Logs in; returns the cookie header value and the CSRF token.
async fn login(b: &Box_) -> (String, String) {
    let (status, headers, body) = send(
        &b.web,
        json_req(
            "POST",
            "/api/v1/login",
            serde_json::json!({"username": "camille", "password": "un mot de passe"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (
        cookie.split(';').next().unwrap().to_owned(),
        body["csrf_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn every_route_but_the_public_ones_needs_a_session() {
    let b = new_box();
    setup(&b).await;
    let doc = serde_json::to_value(panier::api::openapi()).unwrap();
    let mut public = Vec::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let is_public = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if is_public {
                public.push(format!("{} {path}", method.to_uppercase()));
                continue;
            }
            let uri = path.replace(['{', '}'], "");
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let (status, _, body) = send(&b.web, req).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path} answered {status} without a session",
                method.to_uppercase()
            );
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], "unauthorized");
            checked += 1;
        }
    }
    public.sort();
    // The whole-box restore of the setup wizard is public like setup itself: it needs the
    // setup code and is refused once setup is done (agent/tests/backup.rs).
    assert_eq!(
        public,
        [
            "GET /api/v1/health",
            "POST /api/v1/login",
            "POST /api/v1/setup",
            "POST /api/v1/setup/restore"
        ]
    );
    assert!(checked >= 8, "only {checked} routes checked");
}

#[tokio::test]
async fn csrf_is_required_with_a_session() {
    let b = new_box();
    setup(&b).await;
    let (cookie, csrf) = login(&b).await;
    let add = |token: Option<&str>| {
        let mut r = Request::builder()
            .method("POST")
            .uri("/api/v1/admins")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &cookie);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.body(Body::from(
            serde_json::json!({"username": "dominique", "password": "encore un mot de passe"})
                .to_string(),
        ))
        .unwrap()
    };
    assert_eq!(send(&b.web, add(None)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        send(&b.web, add(Some("0".repeat(64).as_str()))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(send(&b.web, add(Some(&csrf))).await.0, StatusCode::CREATED);

    // HTML forms: the session's token in the form body.
    let form = |token: &str| {
        Request::builder()
            .method("POST")
            .uri("/admin/admins")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &cookie)
            .body(Body::from(format!(
                "csrf={token}&action=remove&username=dominique"
            )))
            .unwrap()
    };
    assert_eq!(send(&b.web, form("wrong")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(&b.web, form(&csrf)).await.0, StatusCode::OK);

    // The login form before a session: double-submit cookie.
    let login_form = Request::builder()
        .method("POST")
        .uri("/admin/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("panier_csrf={}", "a".repeat(64)))
        .body(Body::from(format!(
            "csrf={}&username=camille&password=un+mot+de+passe",
            "b".repeat(64)
        )))
        .unwrap();
    assert_eq!(send(&b.web, login_form).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn login_throttling_is_per_address() {
    let b = new_box();
    setup(&b).await;
    let attempt = |ip: &'static str, password: &'static str| {
        let router = from(&b.web, ip);
        async move {
            router
                .oneshot(json_req(
                    "POST",
                    "/api/v1/login",
                    serde_json::json!({"username": "camille", "password": password}),
                ))
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("198.51.100.1", "not the password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = attempt("198.51.100.1", "un mot de passe").await;
    assert_eq!(
        blocked.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(blocked.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(
        attempt("198.51.100.2", "un mot de passe").await.status(),
        StatusCode::OK,
        "another address is not locked out"
    );
}

#[tokio::test]
async fn wrong_setup_codes_are_throttled_and_setup_is_once() {
    let b = new_box();
    let body = |code: &str| serde_json::json!({"code": code, "box_name": "biblio", "username": "camille", "password": "un mot de passe"});
    for _ in 0..3 {
        assert_eq!(
            send(
                &b.web,
                json_req("POST", "/api/v1/setup", body("AAAAA-AAAAA"))
            )
            .await
            .0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        send(&b.web, json_req("POST", "/api/v1/setup", body(&b.code)))
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = from(&b.web, "192.0.2.99")
        .oneshot(json_req("POST", "/api/v1/setup", body(&b.code)))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NO_CONTENT);
    let (status, _, text) = send(&b.web, json_req("POST", "/api/v1/setup", body(&b.code))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(String::from_utf8_lossy(&text).contains("setup_done"));
}

#[tokio::test]
async fn bad_input_is_refused_clearly() {
    let b = new_box();
    // Over 1 MiB: 413, before any parsing.
    let big = format!("{{\"code\":\"{}\"}}", "A".repeat(1 << 20));
    let (status, _, _) = send(
        &b.web,
        Request::builder()
            .method("POST")
            .uri("/api/v1/setup")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(big))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let cases = [
        ("{not json", "invalid_request", "JSON"),
        (
            r#"{"code":"X","box_name":"biblio","username":"camille"}"#,
            "invalid_request",
            "password",
        ),
        (
            r#"{"code":"X","box_name":"Bad Name","username":"camille","password":"un mot de passe"}"#,
            "invalid_request",
            "box_name",
        ),
        (
            r#"{"code":"X","box_name":"biblio","username":"cam\u0007ille","password":"un mot de passe"}"#,
            "invalid_request",
            "control characters",
        ),
        (
            r#"{"code":"X","box_name":"biblio","username":"camille","password":"court"}"#,
            "invalid_request",
            "at least 10",
        ),
    ];
    for (body, key, mention) in cases {
        let (status, _, text) = send(
            &b.web,
            Request::builder()
                .method("POST")
                .uri("/api/v1/setup")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["error"], key);
        // In French the catalog's text for the key, the specific English message beside it.
        let said = format!("{} {}", v["message"], v["detail"]);
        assert!(said.contains(mention), "{body}: {said}");
    }
    // Nothing was half-written: setup is still open.
    let (_, _, health) = send(
        &b.web,
        Request::get("/api/v1/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&health).unwrap()["setup_done"],
        false
    );
}

#[tokio::test]
async fn pages_redirect_and_render_in_french() {
    let b = new_box();
    let (status, headers, _) =
        send(&b.web, Request::get("/admin").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/admin/setup");
    let (status, _, page) = send(
        &b.web,
        Request::get("/admin/setup").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("<html lang=\"fr\">") && page.contains("Code de configuration"),
        "{page}"
    );
    setup(&b).await;
    let (cookie, _) = login(&b).await;
    let (status, _, page) = send(
        &b.web,
        Request::get("/admin")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("Tableau de bord") && page.contains("biblio.local"),
        "{page}"
    );
    let (_, _, page) = send(
        &b.web,
        Request::get("/admin/audit")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(String::from_utf8(page).unwrap().contains("setup"));
    // The hardware page probes this very machine.
    let (status, _, page) = send(
        &b.web,
        Request::get("/admin/hardware")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("Verdict :") && page.contains("Disques"),
        "{page}"
    );
    assert!(
        page.contains("UEFI") || page.contains("BIOS (ancien mode)"),
        "the boot mode in words: {page}"
    );
    assert!(
        !page.contains("Uefi") && !page.contains("Bios<"),
        "no Rust names on the page: {page}"
    );
}

#[tokio::test]
async fn api_errors_speak_the_requests_language_and_keep_their_key() {
    let b = new_box();
    let ask = |lang: Option<&str>| {
        let mut req = Request::builder().uri("/api/v1/apps");
        if let Some(lang) = lang {
            req = req.header(header::ACCEPT_LANGUAGE, lang);
        }
        req.body(Body::empty()).unwrap()
    };
    let body = |bytes: Vec<u8>| -> serde_json::Value { serde_json::from_slice(&bytes).unwrap() };

    // The box's default language (French) when the request names none it knows.
    for lang in [None, Some("*"), Some("de-DE")] {
        let (status, _, bytes) = send(&b.web, ask(lang)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let v = body(bytes);
        assert_eq!(v["error"], "unauthorized", "{lang:?}");
        assert_eq!(v["message"], "Connectez-vous d'abord.", "{lang:?}");
        assert_eq!(v["detail"], "log in first", "{lang:?}");
    }
    let (_, _, bytes) = send(&b.web, ask(Some("en-GB,fr;q=0.5"))).await;
    let v = body(bytes);
    assert_eq!(v["error"], "unauthorized");
    assert_eq!(v["message"], "log in first");
    assert!(v.get("detail").is_none(), "{v}");

    // A logged-in admin who chose no language of their own: the request's, else the box's.
    setup(&b).await;
    let (cookie, _) = login(&b).await;
    let req = Request::builder()
        .uri("/api/v1/apps/nope")
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT_LANGUAGE, "en")
        .body(Body::empty())
        .unwrap();
    let (status, _, bytes) = send(&b.web, req).await;
    let v = body(bytes);
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"], "app_not_installed");
    assert_eq!(v["message"], "the service 'nope' is not installed");
    let req = Request::builder()
        .uri("/api/v1/apps/nope")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let (_, _, bytes) = send(&b.web, req).await;
    let v = body(bytes);
    assert_eq!(v["message"], "Ce service n'est pas installé.", "{v}");
    assert_eq!(v["detail"], "the service 'nope' is not installed");
}
