//! One web entry of the box (the HTTPS port, the HTTP port, or a service's fixed port): what
//! a request leads to, by its `Host`.

use super::{Forwarder, Proxy, Target, pages, request_host};
use crate::http::extract::Https;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use std::net::SocketAddr;
use tower::ServiceExt;

/// A listener's behaviour.
pub struct Entry {
    pub proxy: Option<Proxy>,
    pub forwarder: Forwarder,
    /// Requests arrived over TLS (they are marked [`Https`], and forwarded as such).
    pub https: bool,
    /// A fixed-port entry: every request goes to this service, whatever its `Host`.
    pub fixed: Option<String>,
    /// What the box itself answers (portal or admin UI); `None` on fixed ports.
    pub box_router: Option<Router>,
}

impl Entry {
    pub async fn handle(&self, mut req: Request<Body>, peer: SocketAddr) -> Response {
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
            if let Some(name) = &self.fixed {
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
            match table.lookup(&host) {
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
        match router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}
