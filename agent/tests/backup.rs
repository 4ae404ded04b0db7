//! Backups through the router in-process: the wizard's whole-box restore is guarded by the
//! setup code and closed once setup is done; the Backups page and the kit page render, and
//! an alert shows as a banner on every admin page.

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use panier::config::Config;
use panier::daemon;
use panier::store::Store;
use std::net::SocketAddr;
use tower::ServiceExt;

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let r = router
        .clone()
        .layer(MockConnectInfo(
            "192.0.2.20:40000".parse::<SocketAddr>().unwrap(),
        ))
        .oneshot(req)
        .await
        .unwrap();
    let status = r.status();
    (
        status,
        String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned(),
    )
}

fn json(method: &str, uri: &str, body: serde_json::Value, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn wizard_restore_needs_the_code_and_closes_after_setup_and_pages_render() {
    let dir = tempfile::tempdir().unwrap();
    let (routers, code) =
        daemon::build(Store::memory(), &Config::with_data_dir(dir.path())).unwrap();
    let web = routers.web;
    let code = code.unwrap().display();
    let repo = dir.path().join("repo");
    let restore = |code: &str| {
        json(
            "POST",
            "/api/v1/setup/restore",
            serde_json::json!({"code": code, "location": {"kind": "folder", "path": repo}, "password": "x"}),
            None,
        )
    };
    let (status, body) = send(&web, restore("AAAAA-AAAAA")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("setup_code_wrong"));
    let (status, body) = send(&web, restore(&code)).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no repository there: the target is missing: {body}"
    );
    assert!(body.contains("backup_target_missing"));

    let setup = serde_json::json!({"code": code, "box_name": "biblio", "username": "camille", "password": "un mot de passe"});
    assert_eq!(
        send(&web, json("POST", "/api/v1/setup", setup, None))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = send(&web, restore(&code)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("setup_done"));

    let login = web
        .clone()
        .layer(MockConnectInfo(
            "192.0.2.20:40000".parse::<SocketAddr>().unwrap(),
        ))
        .oneshot(json(
            "POST",
            "/api/v1/login",
            serde_json::json!({"username": "camille", "password": "un mot de passe"}),
            None,
        ))
        .await
        .unwrap();
    let cookie = login.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = |uri: &str| {
        Request::builder()
            .uri(uri)
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap()
    };
    let (status, html) = send(&web, page("/admin/backups")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Sauvegarder maintenant") || html.contains("Aucune destination"),
        "{html}"
    );
    let (status, _) = send(&web, page("/admin/backups/kit/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
