//! The pages the proxy answers itself: an unknown name, a service that does not answer, a
//! body over the service's limit. Self-contained HTML (styles inline: on a service's name,
//! any other URL would go to the service), in the visitor's language.

use super::Table;
use crate::i18n::{Messages, messages};
use crate::names::Language;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "proxy_message.html")]
struct MessagePage<'a> {
    t: &'static Messages,
    title: &'a str,
    message: &'a str,
    error: bool,
    box_host: &'a str,
    services: Vec<(String, String)>,
}

fn page(status: StatusCode, p: &MessagePage<'_>) -> Response {
    match p.render() {
        Ok(html) => {
            let mut r = axum::response::Html(html).into_response();
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => {
            log::error!("cannot render a proxy page: {e}");
            plain(status, p.message)
        }
    }
}

pub fn plain(status: StatusCode, text: &str) -> Response {
    (status, text.to_owned()).into_response()
}

/// A name of the box's form that no service has: say so and list what exists.
pub fn unknown(lang: Language, table: &Table, host: &str) -> Response {
    let t = messages(lang);
    let services = table
        .routes
        .iter()
        .map(|p| {
            (
                p.route.title.get(lang).to_owned(),
                format!("http://{}/", p.host),
            )
        })
        .collect();
    let message = t.fmt("proxy.unknown_text", &[("host", host)]);
    page(
        StatusCode::NOT_FOUND,
        &MessagePage {
            t,
            title: t.get("proxy.unknown_title"),
            message: &message,
            error: false,
            box_host: &table.box_host,
            services,
        },
    )
}

/// A request the box refuses (a bad `Host`, a `CONNECT`, a malformed body): `text_key` says
/// why, in the visitor's language.
pub fn refused(lang: Language, status: StatusCode, text_key: &str) -> Response {
    let t = messages(lang);
    page(
        status,
        &MessagePage {
            t,
            title: t.get("proxy.refused_title"),
            message: t.get(text_key),
            error: true,
            box_host: "",
            services: vec![],
        },
    )
}

/// The service does not answer (stopped, starting, crashed).
pub fn unavailable(lang: Language, service: &str, status: StatusCode) -> Response {
    let t = messages(lang);
    let message = t.fmt("proxy.unavailable_text", &[("service", service)]);
    page(
        status,
        &MessagePage {
            t,
            title: t.get("proxy.unavailable_title"),
            message: &message,
            error: true,
            box_host: "",
            services: vec![],
        },
    )
}

/// The request body is over the service's limit.
pub fn too_large(lang: Language, service: &str, max: u64) -> Response {
    let t = messages(lang);
    let mib = (max >> 20).max(1).to_string();
    let message = t.fmt(
        "proxy.too_large_text",
        &[("service", service), ("mib", &mib)],
    );
    page(
        StatusCode::PAYLOAD_TOO_LARGE,
        &MessagePage {
            t,
            title: t.get("proxy.too_large_title"),
            message: &message,
            error: true,
            box_host: "",
            services: vec![],
        },
    )
}

/// A fixed port whose service is gone.
pub fn gone(lang: Language, table: &Table) -> Response {
    let t = messages(lang);
    let services = table
        .routes
        .iter()
        .map(|p| {
            (
                p.route.title.get(lang).to_owned(),
                format!("http://{}/", p.host),
            )
        })
        .collect();
    page(
        StatusCode::NOT_FOUND,
        &MessagePage {
            t,
            title: t.get("proxy.gone_title"),
            message: t.get("proxy.gone_text"),
            error: false,
            box_host: &table.box_host,
            services,
        },
    )
}

/// A fixed port whose service does not work there: why, and its name to open instead.
pub fn fixed_port_refused(lang: Language, table: &Table, p: &super::Published) -> Response {
    let t = messages(lang);
    let reason = p
        .route
        .fixed_port_refusal
        .as_ref()
        .map(|r| r.get(lang))
        .unwrap_or_default();
    page(
        StatusCode::MISDIRECTED_REQUEST,
        &MessagePage {
            t,
            title: t.get("catalog.fixed_port_title"),
            message: reason,
            error: false,
            box_host: &table.box_host,
            services: vec![(
                p.route.title.get(lang).to_owned(),
                format!("https://{}/", p.host),
            )],
        },
    )
}
