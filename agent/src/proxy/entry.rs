//! One web entry of the box (the HTTPS port, the HTTP port, or a service's fixed port): what
//! a request leads to, by its `Host`.

use super::limits::{Class, Limits};
use super::{Forwarder, Proxy, Target, pages, request_host};
use crate::http::extract::Https;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Where ACME HTTP-01 tokens are asked for (RFC 8555 §8.3).
pub const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";

/// A listener's behaviour.
pub struct Entry {
    pub proxy: Option<Proxy>,
    pub forwarder: Forwarder,
    /// Requests arrived over TLS (they are marked [`Https`], and forwarded as such).
    pub https: bool,
    /// A fixed-port entry: every request goes to this service, if its `Host` is one of the
    /// box's own names or an address (a web page that made another name point at the box,
    /// DNS rebinding, must not read a LAN-only service through the visitor's browser).
    pub fixed: Option<String>,
    /// What the box itself answers (portal or admin UI); `None` on fixed ports.
    pub box_router: Option<Router>,
    /// The connection caps shared by every entry, and this entry's share of them.
    pub limits: Limits,
    pub class: Class,
}

impl Entry {
    /// Answers `req`, which came from `peer` to the local address `local`.
    pub async fn handle(
        &self,
        mut req: Request<Body>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Response {
        let lang = crate::http::language::accept_language(req.headers());
        // Neither the box nor a service is a forward proxy: a tunnel is refused with an
        // answer (hyper would otherwise turn a 2xx into a tunnel, or the client waits).
        if req.method() == Method::CONNECT {
            log::info!("refused a CONNECT from {peer}");
            return pages::refused(lang, StatusCode::METHOD_NOT_ALLOWED, "proxy.connect_text");
        }
        let host = match request_host(&req) {
            Ok(h) => h,
            Err(why) => {
                log::info!("refused a request from {peer}: {why}");
                return pages::refused(lang, StatusCode::BAD_REQUEST, "proxy.bad_host_text");
            }
        };
        if let Some(proxy) = &self.proxy {
            let table = proxy.table();
            let outside = proxy.is_outside(local, peer);
            if let Some(name) = &self.fixed {
                if outside {
                    return pages::not_public(lang, &table);
                }
                if !table.is_own_host(&host) {
                    log::info!(service = name.as_str(); "refused a request from {peer} on a fixed port for another name ({host}): DNS rebinding, or a misconfigured name");
                    return pages::refused(
                        lang,
                        StatusCode::MISDIRECTED_REQUEST,
                        "proxy.foreign_host_text",
                    );
                }
                return match table.by_name(name) {
                    Some(p) if p.route.fixed_port_refusal.is_some() => {
                        pages::fixed_port_refused(lang, &table, p)
                    }
                    Some(p) => {
                        self.forwarder
                            .forward(&p.route, req, peer, self.https, lang)
                            .await
                    }
                    None => pages::gone(lang, &table),
                };
            }
            if !self.https
                && let Some(token) = req.uri().path().strip_prefix(ACME_CHALLENGE)
                && let Some(answer) = proxy.http01(token)
            {
                return pages::plain(StatusCode::OK, &answer);
            }
            match table.lookup(&host) {
                // From outside: only the services open to the outside, never the box's pages.
                Target::Service(p) if outside && !proxy.open_outside(&p.route.name) => {
                    return pages::not_public(lang, &table);
                }
                Target::UnknownService | Target::TheBox if outside => {
                    return pages::not_public(lang, &table);
                }
                Target::Service(p) => {
                    return self
                        .forwarder
                        .forward(&p.route, req, peer, self.https, lang)
                        .await;
                }
                Target::UnknownService => {
                    return pages::unknown(lang, &table, &host);
                }
                Target::TheBox => {}
            }
        }
        let Some(router) = &self.box_router else {
            return pages::plain(StatusCode::NOT_FOUND, "not found");
        };
        req.extensions_mut().insert(ConnectInfo(peer));
        if self.https {
            req.extensions_mut().insert(Https);
        }
        let mut response = match router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if self.https {
            // Browsers that trust the box's authority then never try its names over plain
            // HTTP again (a certificate error makes them ignore this, RFC 6797 §8.1). Not for
            // services' names: their pages may still be opened over http.
            response.headers_mut().insert(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static("max-age=31536000"),
            );
        }
        response
    }
}
