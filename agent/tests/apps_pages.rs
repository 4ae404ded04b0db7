//! The services pages called in-process: the catalog grouped by category with icons and
//! needs, a service's description (Markdown, raw HTML escaped) and install form from its
//! typed settings, CSRF on every form, refused settings shown next to their field in French,
//! the service page's refusals in plain words, the dashboard's list. No container engine here
//! (the agent points at a socket that does not exist): the real install, its live progress and
//! stop are in the browser test (tests/tests/browser.rs).

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

const MANIFEST: &str = r#"
id = "pad"
version = "2.1-1"
category = "documents"
upstream = "https://etherpad.org"
license = "Apache-2.0"
name = { fr = "Bloc-notes", en = "Pad" }
description = { fr = "Des textes écrits à plusieurs.", en = "Texts written together." }
requirements = { memory_mb = 64, disk_mb = 20 }
first_run = "nothing"

[[settings]]
name = "title"
type = "string"
required = true
label = { fr = "Titre de l'accueil", en = "Welcome title" }

[[settings]]
name = "admin_password"
type = "password"
label = { fr = "Mot de passe d'administration", en = "Admin password" }

[[settings]]
name = "public"
type = "boolean"
default = true
label = { fr = "Ouvert à tous", en = "Open to all" }

[[settings]]
name = "theme"
type = "choice"
choices = ["clair", "sombre"]
default = "clair"
label = { fr = "Thème", en = "Theme" }

[[settings]]
name = "workers"
type = "number"
min = 1
max = 8
default = 2
label = { fr = "Nombre de processus", en = "Workers" }

[[containers]]
name = "web"
image = "example.org/pad:2.1"
memory_mb = 64
ports = [9001]

[[probe]]
http = "/"
contains = "hello"

[web]
container = "web"
port = 9001

[[provenance]]
image = "example.org/pad:2.1"
repository = "https://example.org/pad"
tag = "2.1"
files = ["Dockerfile"]
read_on = "2026-01-01"
"#;

struct Admin {
    web: Router,
    cookie: String,
    csrf: String,
    _dir: tempfile::TempDir,
}

async fn call(web: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let r = web
        .clone()
        .layer(MockConnectInfo(
            "192.0.2.10:40000".parse::<SocketAddr>().unwrap(),
        ))
        .oneshot(req)
        .await
        .unwrap();
    let (parts, body) = r.into_parts();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned(),
    )
}

async fn admin() -> Admin {
    admin_over(None).await
}

/// An admin logged in on a box whose catalog is `catalog` (else the one test entry, pad).
async fn admin_over(catalog: Option<std::path::PathBuf>) -> Admin {
    let dir = tempfile::tempdir().unwrap();
    let pad = dir.path().join("catalog/pad");
    std::fs::create_dir_all(&pad).unwrap();
    std::fs::write(pad.join("manifest.toml"), MANIFEST).unwrap();
    std::fs::write(
        pad.join("icon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"/>",
    )
    .unwrap();
    std::fs::write(
        pad.join("description.fr.md"),
        "## Écrire ensemble\n\nUn **bloc-notes** partagé. <script>alert(1)</script>\n",
    )
    .unwrap();
    std::fs::write(
        pad.join("description.en.md"),
        "## Write together\n\nA shared **pad**.\n",
    )
    .unwrap();
    let mut config = Config::with_data_dir(&dir.path().join("data"));
    config.catalog_dir = catalog.unwrap_or_else(|| dir.path().join("catalog"));
    config.engine = format!("unix://{}/no-engine.sock", dir.path().display());
    let (routers, code) = daemon::build(Store::memory(), &config).unwrap();
    let web = routers.web;
    let json = |uri: &str, body: serde_json::Value| {
        Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let setup = serde_json::json!({"code": code.unwrap().display(), "box_name": "biblio", "username": "camille", "password": "un mot de passe"});
    assert_eq!(
        call(&web, json("/api/v1/setup", setup)).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, headers, body) = call(
        &web,
        json(
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
    let csrf = serde_json::from_str::<serde_json::Value>(&body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    Admin {
        web,
        cookie,
        csrf,
        _dir: dir,
    }
}

impl Admin {
    async fn get(&self, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        call(
            &self.web,
            Request::builder()
                .uri(uri)
                .header(header::COOKIE, &self.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
    async fn post(&self, uri: &str, form: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        call(&self.web, req).await
    }
}

#[tokio::test]
async fn catalog_page_groups_cards_with_icon_needs_and_fit() {
    let a = admin().await;
    let (status, _, html) = a.get("/admin/catalog").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("href=\"/admin/catalog\" aria-current=\"page\""),
        "in the navigation"
    );
    assert!(
        html.contains("Documents collaboratifs"),
        "the category's title"
    );
    assert!(
        !html.contains("Visioconférence"),
        "empty categories are left out"
    );
    assert!(
        html.contains("id=\"card-pad\"")
            && html.contains("Bloc-notes")
            && html.contains("Des textes écrits à plusieurs."),
        "{html}"
    );
    assert!(html.contains("src=\"/admin/catalog/pad/icon.svg\""));
    assert!(
        html.contains("Besoins : 64 Mio de mémoire, 20 Mio de disque."),
        "{html}"
    );
    assert!(
        html.contains("Tient sur cette boîte.") || html.contains("Trop gros"),
        "says whether it fits"
    );
    assert!(html.contains("href=\"/admin/catalog/pad\""));

    let (status, headers, svg) = a.get("/admin/catalog/pad/icon.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert!(svg.starts_with("<svg"));
    assert_eq!(
        a.get("/admin/catalog/nope/icon.svg").await.0,
        StatusCode::NOT_FOUND
    );

    // In English when the admin chooses it.
    let (status, _, _) = a
        .post(
            "/admin/admins",
            &format!("csrf={}&action=language&language=en", a.csrf),
        )
        .await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let (_, _, html) = a.get("/admin/catalog").await;
    assert!(
        html.contains("<h1>Service catalog</h1>")
            && html.contains("Collaborative documents")
            && html.contains("Needs: 64 MiB of memory, 20 MiB of disk."),
        "{html}"
    );
    assert!(
        html.contains("Texts written together."),
        "the card in English"
    );

    // Without a session: the login page.
    let (status, headers, _) = call(
        &a.web,
        Request::builder()
            .uri("/admin/catalog")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, headers[header::LOCATION].to_str().unwrap()),
        (
            StatusCode::SEE_OTHER,
            "/admin/login?next=%2Fadmin%2Fcatalog"
        )
    );
}

#[tokio::test]
async fn catalog_page_is_one_grid_across_categories_filtered_by_need() {
    let services = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../services");
    let a = admin_over(Some(services)).await;
    let (status, _, html) = a.get("/admin/catalog").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let cards = html.matches("<li class=\"card\"").count();
    assert!(cards >= 13, "every service in one grid: {cards}");
    assert_eq!(html.matches("<ul class=\"cards").count(), 1, "one grid");
    assert!(html.contains("aria-current=\"true\">Tous les services ("));
    assert!(
        html.contains("href=\"/admin/catalog?need=files\" id=\"need-files\">Stockage et partage de fichiers (1)</a>"),
        "{html}"
    );

    let (_, _, html) = a.get("/admin/catalog?need=websites").await;
    assert_eq!(
        html.matches("<li class=\"card\"").count(),
        2,
        "the websites: {html}"
    );
    assert!(html.contains("id=\"card-wordpress\"") && html.contains("id=\"card-site\""));
    assert!(!html.contains("id=\"card-etherpad\""));
    assert!(html.contains("id=\"need-websites\" aria-current=\"true\""));

    // A need nobody offers shows the whole catalog.
    let (_, _, html) = a.get("/admin/catalog?need=nope").await;
    assert_eq!(html.matches("<li class=\"card\"").count(), cards);
}

#[tokio::test]
async fn entry_page_renders_the_description_and_a_typed_form() {
    let a = admin().await;
    let (status, _, html) = a.get("/admin/catalog/pad").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>Bloc-notes</h1>"), "{html}");
    assert!(
        html.contains("<h3>Écrire ensemble</h3>") && html.contains("<strong>bloc-notes</strong>"),
        "Markdown rendered"
    );
    assert!(
        !html.contains("<script>alert") && html.contains("&lt;script&gt;"),
        "raw HTML is escaped"
    );
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", a.csrf)));
    assert!(
        html.contains("<label for=\"setting-title\">Titre de l&#39;accueil (obligatoire)</label>")
            || html.contains("Titre de l&#x27;accueil (obligatoire)"),
        "{html}"
    );
    assert!(html.contains("type=\"password\" id=\"setting-admin_password\""));
    assert!(
        html.contains(
            "type=\"checkbox\" id=\"setting-public\" name=\"setting.public\" value=\"true\" checked"
        ),
        "boolean default true"
    );
    assert!(
        html.contains("<option value=\"clair\" selected>clair</option>")
            && html.contains("<option value=\"sombre\">")
    );
    assert!(html.contains("type=\"number\" id=\"setting-workers\" name=\"setting.workers\" value=\"2\" min=\"1\" max=\"8\""), "{html}");

    let (status, _, html) = a.get("/admin/catalog/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("Ce service n&#39;est pas dans le catalogue.")
            || html.contains("Ce service n&#x27;est pas dans le catalogue."),
        "{html}"
    );
}

#[tokio::test]
async fn install_form_checks_csrf_and_shows_refused_settings_next_to_the_field() {
    let a = admin().await;
    let (status, _, _) = a
        .post("/admin/catalog/pad", "csrf=wrong&setting.title=Bienvenue")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = a
        .post("/admin/catalog/pad", "setting.title=Bienvenue")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token at all");

    // Out of bounds: refused, said next to the field, what was typed kept.
    let form = format!(
        "csrf={}&setting.title=Bienvenue&setting.workers=99&setting.theme=sombre",
        a.csrf
    );
    let (status, _, html) = a.post("/admin/catalog/pad", &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("id=\"form-error\""), "{html}");
    assert!(html.contains("<p class=\"error\" id=\"setting-workers-error\">99 est en dehors des limites (de 1 à 8).</p>"), "{html}");
    assert!(
        html.contains("value=\"Bienvenue\"") && html.contains("<option value=\"sombre\" selected>"),
        "typed values kept"
    );
    assert!(
        html.contains(
            "type=\"checkbox\" id=\"setting-public\" name=\"setting.public\" value=\"true\">"
        ),
        "an unticked box stays unticked"
    );

    // A required field left empty, and a short password.
    let (status, _, html) = a
        .post(
            "/admin/catalog/pad",
            &format!("csrf={}&setting.title=", a.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("id=\"setting-title-error\">ce champ est obligatoire.</p>"),
        "{html}"
    );
    let (status, _, html) = a
        .post(
            "/admin/catalog/pad",
            &format!(
                "csrf={}&setting.title=x&setting.admin_password=court",
                a.csrf
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("id=\"setting-admin_password-error\">un mot de passe doit faire au moins 10 caractères.</p>"), "{html}");
    assert!(!html.contains("court"), "a password is never sent back");

    // Valid settings without a container engine: either refused at once (the agent already
    // knows the engine is down) or a job that fails, is rolled back and says so.
    let (status, headers, html) = a
        .post(
            "/admin/catalog/pad",
            &format!(
                "csrf={}&setting.title=Bienvenue&setting.public=true",
                a.csrf
            ),
        )
        .await;
    if status == StatusCode::SEE_OTHER {
        assert_eq!(headers[header::LOCATION], "/admin/apps/pad");
        let mut page = String::new();
        for _ in 0..100 {
            page = a.get("/admin/apps/pad").await.2;
            if page.contains("id=\"job-failed\"") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(
            page.contains("id=\"job-failed\"")
                && page.contains("<strong id=\"job-kind\">Installation</strong>"),
            "{page}"
        );
        assert!(page.contains("Détail technique : <code>"), "{page}");
    } else {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
        assert!(
            html.contains("Le moteur de conteneurs ne répond pas."),
            "{html}"
        );
    }

    // Refusals are audited as the API does.
    let (_, _, log) = a.get("/admin/audit").await;
    assert!(log.contains("app_install"), "{log}");
}

#[tokio::test]
async fn service_page_refusals_are_plain_words_and_the_dashboard_lists_services() {
    let a = admin().await;
    let (status, _, html) = a.get("/admin/apps/pad").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "never installed");
    assert!(
        html.contains("Ce service n&#39;est pas installé.")
            || html.contains("Ce service n&#x27;est pas installé."),
        "{html}"
    );

    assert_eq!(
        a.post("/admin/apps/pad", "csrf=wrong&action=stop").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, html) = a
        .post(
            "/admin/apps/pad",
            &format!("csrf={}&action=delete_data&confirm=autre", a.csrf),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the id must be typed to delete data"
    );
    assert!(
        html.contains("tapez exactement l&#39;identifiant du service : pad")
            || html.contains("tapez exactement l&#x27;identifiant du service : pad"),
        "{html}"
    );

    let (status, _, html) = a.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Services installés")
            && html.contains("Aucun service installé pour l&#39;instant.")
            || html.contains("Aucun service installé pour l&#x27;instant."),
        "{html}"
    );
    assert!(html.contains("href=\"/admin/catalog\""));
}
