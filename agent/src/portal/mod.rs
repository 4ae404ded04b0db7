//! The public portal at `http://<box>.local/`: the services the place offers (name,
//! description, link by name and by address, a QR code of the link), in French or English,
//! with the title, introduction and logo the admins chose; and the box's certificate
//! authority to download, with the steps to trust it on each kind of device.
//!
//! Invariants: nothing here needs a login and nothing here shows admin data (no accounts,
//! no settings, no health); nothing here links or redirects to the admin UI: `/admin` says
//! which `https://` address to type, `/api` is refused, and the authority's fingerprint is
//! not shown (a page on plain HTTP can be rewritten by anyone on the LAN; staff compare the
//! fingerprint with the box's screen, its printed sheet or the admin UI's Access page).
//! Pages are self-contained (styles inline).
//!
//! Limits: the logo is served as stored (PNG, JPEG, SVG or WebP, up to 512 KiB: checked
//! where it is uploaded, `access`).

use crate::i18n::{Messages, messages};
use crate::names::Language;
use crate::proxy::Proxy;
use crate::store::PortalTexts;
use crate::tls::Tls;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use std::net::IpAddr;
use std::sync::Arc;

/// The handle behind the public pages.
#[derive(Clone)]
pub struct Portal {
    proxy: Proxy,
    tls: Tls,
    lan_interface: Option<String>,
    https_port: u16,
}

pub struct ServiceCard {
    pub title: String,
    pub description: String,
    pub link: String,
    pub by_address: Option<String>,
    pub qr_svg: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    t: &'static Messages,
    title: String,
    intro: String,
    box_host: String,
    has_logo: bool,
    services: Vec<ServiceCard>,
}

#[derive(Template)]
#[template(path = "portal_ca.html")]
struct CaPage {
    t: &'static Messages,
    title: String,
    box_host: String,
    ca_name: String,
}

#[derive(Template)]
#[template(path = "portal_admin.html")]
struct AdminPage {
    t: &'static Messages,
    title: String,
    box_host: String,
    address: String,
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// An SVG QR code of `text`, ready to inline.
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(144, 144)
                .quiet_zone(true)
                .build();
            svg.find("<svg").map(|i| svg[i..].to_owned()).unwrap_or(svg)
        }
        Err(e) => {
            log::warn!("cannot make a QR code for {text}: {e}");
            String::new()
        }
    }
}

impl Portal {
    pub fn new(proxy: Proxy, tls: Tls, lan_interface: Option<String>, https_port: u16) -> Portal {
        Portal {
            proxy,
            tls,
            lan_interface,
            https_port,
        }
    }

    /// The visitor's language: `?lang=`, else the language cookie, else `Accept-Language`,
    /// else the box's.
    fn language(&self, query: &LangQuery, headers: &HeaderMap) -> Language {
        if let Some(l) = query.lang.as_deref().and_then(|l| Language::parse(l).ok()) {
            return l;
        }
        let cookie = crate::http::cookie::cookie(headers, crate::http::language::LANG_COOKIE)
            .and_then(|v| Language::parse(v).ok());
        if let Some(l) = cookie {
            return l;
        }
        if headers.contains_key(header::ACCEPT_LANGUAGE) {
            return crate::http::language::accept_language(headers);
        }
        self.proxy
            .store()
            .box_settings()
            .map(|s| s.language)
            .unwrap_or_default()
    }

    /// The address to show for the fixed ports: the one the visitor used if it is an
    /// address, else the LAN interface's first IPv4 one.
    fn address_for(&self, headers: &HeaderMap) -> Option<String> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if bare.parse::<IpAddr>().is_ok() {
            return Some(bare.to_owned());
        }
        let addrs = self
            .lan_interface
            .as_deref()
            .map(crate::mdns::lan::addresses)
            .unwrap_or_default();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .map(|a| {
                if a.is_ipv6() {
                    format!("[{a}]")
                } else {
                    a.to_string()
                }
            })
    }

    fn texts(&self, lang: Language, box_name: &str) -> PortalTexts {
        let t = messages(lang);
        let stored = self
            .proxy
            .store()
            .portal_texts(lang.code())
            .ok()
            .flatten()
            .unwrap_or_default();
        PortalTexts {
            title: if stored.title.trim().is_empty() {
                t.fmt("portal.default_title", &[("box", box_name)])
            } else {
                stored.title
            },
            intro: if stored.intro.trim().is_empty() {
                t.get("portal.default_intro").to_owned()
            } else {
                stored.intro
            },
        }
    }
}

async fn portal_page(
    State(portal): State<Arc<Portal>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = portal.language(&q, &headers);
    let t = messages(lang);
    let table = portal.proxy.table();
    let address = portal.address_for(&headers);
    let services = table
        .routes
        .iter()
        .map(|p| {
            let link = format!("http://{}/", p.host);
            ServiceCard {
                title: p.route.title.get(lang).to_owned(),
                description: p.route.description.get(lang).to_owned(),
                qr_svg: qr_svg(&link),
                by_address: p
                    .port
                    .zip(address.as_ref())
                    .map(|(port, a)| format!("http://{a}:{port}/")),
                link,
            }
        })
        .collect();
    let texts = portal.texts(lang, &table.box_name);
    let has_logo = portal.proxy.store().portal_logo().ok().flatten().is_some();
    let page = PortalPage {
        t,
        title: texts.title,
        intro: texts.intro,
        box_host: table.box_host.clone(),
        has_logo,
        services,
    };
    html(page.render())
}

async fn ca_page(
    State(portal): State<Arc<Portal>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = portal.language(&q, &headers);
    let t = messages(lang);
    let table = portal.proxy.table();
    let page = CaPage {
        t,
        title: t.get("portal.ca_title").to_owned(),
        box_host: table.box_host.clone(),
        ca_name: portal.tls.ca_name().to_owned(),
    };
    html(page.render())
}

fn html(rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(h) => Html(h).into_response(),
        Err(e) => {
            log::error!("cannot render a portal page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn ca_file_name(portal: &Portal) -> String {
    format!(
        "attachment; filename=\"panier-{}-ca",
        portal.proxy.table().box_name
    )
}

async fn ca_der(State(portal): State<Arc<Portal>>) -> Response {
    let disposition =
        HeaderValue::from_str(&format!("{}.crt\"", ca_file_name(&portal))).expect("ASCII");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-x509-ca-cert"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        portal.tls.ca_der().to_vec(),
    )
        .into_response()
}

async fn ca_pem(State(portal): State<Arc<Portal>>) -> Response {
    let disposition =
        HeaderValue::from_str(&format!("{}.pem\"", ca_file_name(&portal))).expect("ASCII");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        portal.tls.ca_pem().to_owned(),
    )
        .into_response()
}

async fn logo(State(portal): State<Arc<Portal>>) -> Response {
    match portal.proxy.store().portal_logo() {
        Ok(Some((content_type, bytes))) => {
            let ct = HeaderValue::from_str(&content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            // An SVG logo must not run scripts in the portal's origin.
            let csp =
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox");
            (
                [
                    (header::CONTENT_TYPE, ct),
                    (header::CONTENT_SECURITY_POLICY, csp),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("max-age=300"),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            log::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `/admin…` on plain HTTP: a page that says which address to type, with no link and no
/// redirect. Anyone on a shared LAN can rewrite a plain page (mDNS or ARP spoofing) and strip
/// HTTPS from a link or a redirect; an address the staff type themselves, checked against
/// the authority's fingerprint on the box's screen or sheet, cannot be stripped. Cost: staff
/// type `https://` themselves (the page says so in both languages).
async fn admin_over_http(
    State(portal): State<Arc<Portal>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    method: axum::http::Method,
) -> Response {
    let lang = portal.language(&q, &headers);
    let t = messages(lang);
    let box_host = portal.proxy.table().box_host.clone();
    let port = if portal.https_port == 443 {
        String::new()
    } else {
        format!(":{}", portal.https_port)
    };
    let page = AdminPage {
        t,
        title: t.get("portal.admin_title").to_owned(),
        address: format!("https://{box_host}{port}/admin"),
        box_host,
    };
    let mut response = html(page.render());
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}

/// `/api…` on plain HTTP: refused, nothing done (a password sent here was sent in clear).
async fn api_over_http() -> Response {
    (
        StatusCode::FORBIDDEN,
        "the API answers over HTTPS only / l'API ne répond qu'en HTTPS\n",
    )
        .into_response()
}

/// The plain-HTTP entry's own pages.
pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/", get(portal_page))
        .route("/ca", get(ca_page))
        .route("/ca.crt", get(ca_der))
        .route("/ca.pem", get(ca_pem))
        .route("/logo", get(logo))
        .route("/favicon.ico", get(crate::web::favicon))
        .route("/admin", axum::routing::any(admin_over_http))
        .route("/admin/{*rest}", axum::routing::any(admin_over_http))
        .route("/api/{*rest}", axum::routing::any(api_over_http))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(Arc::new(portal))
}

/// The plain-HTTP entry in diagnostic mode: everything goes to the HTTPS admin UI.
pub fn diagnostic_router(https_port: u16) -> Router {
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    Router::new().fallback(move |headers: HeaderMap| {
        let port = port.clone();
        async move {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
            Redirect::temporary(&format!("https://{bare}{port}/admin")).into_response()
        }
    })
}
