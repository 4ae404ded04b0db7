//! The firewall's routes called in-process (the agent runs with the firewall off here, so
//! nothing touches nftables; the real table is exercised by the system tests): refusing a
//! change that would cut the requester, the pending change and its confirmation from a fresh
//! connection, validation, the explanation.

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

struct Admin {
    web: Router,
    cookie: String,
    csrf: String,
    _dir: tempfile::TempDir,
}

async fn call(
    web: &Router,
    peer: &str,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let r = web
        .clone()
        .layer(MockConnectInfo(peer.parse::<SocketAddr>().unwrap()))
        .oneshot(req)
        .await
        .unwrap();
    let (parts, body) = r.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn json(method: &str, uri: &str, body: serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn admin() -> Admin {
    let dir = tempfile::tempdir().unwrap();
    let (routers, code) =
        daemon::build(Store::memory(), &Config::with_data_dir(dir.path())).unwrap();
    let web = routers.web;
    let setup = serde_json::json!({"code": code.unwrap().display(), "box_name": "biblio", "username": "camille", "password": "un mot de passe"});
    assert_eq!(
        call(&web, "127.0.0.1:1", json("POST", "/api/v1/setup", setup))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, headers, body) = call(
        &web,
        "127.0.0.1:1",
        json(
            "POST",
            "/api/v1/login",
            serde_json::json!({"username": "camille", "password": "un mot de passe"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    Admin {
        web,
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        _dir: dir,
    }
}

impl Admin {
    async fn send(
        &self,
        peer: &str,
        method: &str,
        uri: &str,
        body: serde_json::Value,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let mut req = json(method, uri, body);
        req.headers_mut()
            .insert(header::COOKIE, self.cookie.parse().unwrap());
        req.headers_mut()
            .insert("x-csrf-token", self.csrf.parse().unwrap());
        call(&self.web, peer, req).await
    }
}

#[tokio::test]
async fn changes_over_the_network_wait_for_a_fresh_confirmation() {
    let a = admin().await;
    // From the box itself (loopback): applied at once, nothing pending.
    let (status, _, body) = a
        .send(
            "127.0.0.1:5000",
            "PUT",
            "/api/v1/firewall/lan",
            serde_json::json!({"subnets": ["192.0.2.0/24"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revert_at"], serde_json::Value::Null);

    // Moving the LAN away from the requester is refused with an explanation.
    let (status, _, body) = a
        .send(
            "192.0.2.10:40000",
            "PUT",
            "/api/v1/firewall/lan",
            serde_json::json!({"subnets": ["10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "firewall_would_cut_admin");
    // Said in the box's language (French), the address concerned in the English detail.
    assert!(
        body["message"].as_str().unwrap().contains("couperait"),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("192.0.2.10"),
        "{body}"
    );

    // From the LAN: applied, pending, and the answer closes its connection.
    let (status, headers, body) = a
        .send(
            "192.0.2.10:40000",
            "PUT",
            "/api/v1/firewall/services/etherpad",
            serde_json::json!({"exposure": "outside"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revert_at"].as_i64().unwrap() > 0);
    assert_eq!(headers[header::CONNECTION], "close");

    let (status, _, body) = a
        .send(
            "192.0.2.10:40000",
            "POST",
            "/api/v1/firewall/confirm",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("firewall_not_fresh"))
    );
    let (status, _, _) = a
        .send(
            "192.0.2.10:40001",
            "POST",
            "/api/v1/firewall/confirm",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = a
        .send(
            "192.0.2.10:40002",
            "POST",
            "/api/v1/firewall/confirm",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("firewall_nothing_pending"))
    );

    let (status, _, o) = a
        .send(
            "192.0.2.10:40003",
            "GET",
            "/api/v1/firewall?lang=fr",
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o["policy"]["exposures"]["etherpad"], "outside");
    assert_eq!(o["revert_at"], serde_json::Value::Null);
    let text = o["explanation"].to_string();
    assert!(
        text.contains("Le service etherpad est accessible depuis partout"),
        "{text}"
    );
    assert!(text.contains("192.0.2.0/24"), "{text}");
}

#[tokio::test]
async fn bad_values_are_refused_before_nft() {
    let a = admin().await;
    let cases = [
        (
            "/api/v1/firewall/lan",
            serde_json::json!({"subnets": ["192.168.1.10/24"]}),
        ),
        (
            "/api/v1/firewall/lan",
            serde_json::json!({"subnets": ["10.0.0.0/8; flush ruleset"]}),
        ),
        (
            "/api/v1/firewall/services/etherpad",
            serde_json::json!({"exposure": "world"}),
        ),
        (
            "/api/v1/firewall/services/Bad%20Id",
            serde_json::json!({"exposure": "lan"}),
        ),
    ];
    for (uri, body) in cases {
        let (status, _, answer) = a.send("127.0.0.1:5000", "PUT", uri, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {body}: {answer}");
    }
}

#[tokio::test]
async fn the_page_explains_and_offers_the_choices() {
    let a = admin().await;
    a.send(
        "127.0.0.1:5000",
        "PUT",
        "/api/v1/firewall/services/etherpad",
        serde_json::json!({"exposure": "closed"}),
    )
    .await;
    let mut req = Request::builder()
        .uri("/admin/firewall")
        .body(Body::empty())
        .unwrap();
    req.headers_mut()
        .insert(header::COOKIE, a.cookie.parse().unwrap());
    let r = a
        .web
        .clone()
        .layer(MockConnectInfo(
            "192.0.2.10:1".parse::<SocketAddr>().unwrap(),
        ))
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html =
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        html.contains("Pare-feu")
            && html.contains("Le service etherpad n’est accessible par personne"),
        "{html}"
    );
    assert!(
        html.contains("--firewall off"),
        "says the firewall is not applied here"
    );
    assert!(html.contains(r#"<option value="closed" selected>"#));
}
