//! Forwarding one request to a service's upstream, streaming both bodies, and tunnelling
//! WebSocket upgrades.
//!
//! What a client says about itself is not passed on: every header naming the client's
//! address, scheme or host (`X-Forwarded-*`, `X-Real-IP`, `Forwarded`, `True-Client-IP`…)
//! is removed, and the box sets those it knows from the connection.
//!
//! Timeouts: 5 s to connect to the upstream, 120 s for its response headers (a slow
//! Nextcloud operation); bodies have no overall one (a 1 GiB upload on a slow Wi-Fi takes
//! minutes), only the idle ones of `idle` (60 s without a byte of the request's body, set in
//! `serve`; 5 min without a byte either way in a WebSocket tunnel).

use super::Route;
use super::idle::TUNNEL_IDLE;
use super::pages;
use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Request, StatusCode, Uri, Version};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);

/// The upstream client, with a pool of kept-alive connections per service.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpConnector, Body>,
}

impl Default for Forwarder {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(128)
            .build(connector);
        Forwarder { client }
    }
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Headers through which a client could pass itself off as another address, scheme or host
/// to a service that reads them. Those the box knows are set; the others are removed.
const CLIENT_CLAIMS: [&str; 16] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "client-ip",
    "cf-connecting-ip",
    "front-end-https",
];

/// Replaces whatever the client claimed with what the box saw: the TCP peer, the entry's
/// scheme and the request's (validated) `Host`, in the `X-Forwarded-*` family, `X-Real-IP`
/// and RFC 7239's `Forwarded`.
fn client_headers(h: &mut HeaderMap, peer: SocketAddr, https: bool, host: Option<HeaderValue>) {
    for name in CLIENT_CLAIMS {
        h.remove(name);
    }
    let ip = peer.ip().to_canonical();
    let proto = if https { "https" } else { "http" };
    let addr = HeaderValue::from_str(&ip.to_string()).expect("an address is ASCII");
    h.insert("x-forwarded-for", addr.clone());
    h.insert("x-real-ip", addr);
    h.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    let node = match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut forwarded = format!("for={node};proto={proto}");
    if let Some(host) = host {
        // Already checked by the entry: a name or address and a port, nothing to escape.
        if let Ok(text) = host.to_str() {
            forwarded.push_str(&format!(";host=\"{text}\""));
        }
        h.insert("x-forwarded-host", host);
    }
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        h.insert(header::FORWARDED, v);
    }
}

/// The protocol asked for in `Upgrade`, if the request asks for one.
fn upgrade_of(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    connection_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Whether an error of type `T` is in `e`'s chain of causes.
fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The client's request body failed (bad chunk sizes, a connection cut mid-upload): marks
/// the error so that the forward is blamed on the client (400), not the service (502).
#[derive(Debug, thiserror::Error)]
#[error("the client's request body: {0}")]
struct ClientBody(#[source] axum::Error);

impl Forwarder {
    /// Sends `req` to `route`'s upstream and returns its answer, bodies streamed.
    pub async fn forward(
        &self,
        route: &Route,
        mut req: Request<Body>,
        peer: SocketAddr,
        https: bool,
        lang: crate::names::Language,
    ) -> Response {
        let max = route.max_body_bytes;
        if max > 0 && content_length(req.headers()).is_some_and(|len| len > max) {
            return pages::too_large(lang, route.title.get(lang), max);
        }
        let upgrade = if route.websocket {
            upgrade_of(req.headers())
        } else {
            None
        };
        let client_side = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let original_host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(protocol) = &upgrade {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol.clone());
        }
        client_headers(&mut parts.headers, peer, https, original_host);
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = match Uri::try_from(format!("http://{}{path}", route.upstream)) {
            Ok(u) => u,
            Err(_) => return pages::plain(StatusCode::BAD_REQUEST, "bad request target"),
        };
        parts.version = Version::HTTP_11;
        let body = http_body_util::BodyExt::map_err(body, ClientBody);
        let body = if max > 0 {
            Body::new(http_body_util::Limited::new(body, max as usize))
        } else {
            Body::new(body)
        };
        let answer = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            self.client.request(Request::from_parts(parts, body)),
        )
        .await;
        let mut response = match answer {
            Err(_) => {
                log::warn!(service = route.name.as_str(); "no answer from {} within {}s", route.upstream, RESPONSE_TIMEOUT.as_secs());
                return pages::unavailable(
                    lang,
                    route.title.get(lang),
                    StatusCode::GATEWAY_TIMEOUT,
                );
            }
            Ok(Err(e)) if caused_by::<http_body_util::LengthLimitError>(&e) => {
                return pages::too_large(lang, route.title.get(lang), max);
            }
            Ok(Err(e)) if caused_by::<ClientBody>(&e) => {
                log::info!(service = route.name.as_str(); "refused a request from {peer}: the client's body is malformed or cut short ({e}); not the service's fault");
                return pages::refused(lang, StatusCode::BAD_REQUEST, "proxy.bad_body_text");
            }
            Ok(Err(e)) => {
                log::warn!(service = route.name.as_str(); "cannot reach {}: {e}", route.upstream);
                return pages::unavailable(lang, route.title.get(lang), StatusCode::BAD_GATEWAY);
            }
            Ok(Ok(r)) => r,
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_side) = client_side {
                let upstream_side = hyper::upgrade::on(&mut response);
                let name = route.name.clone();
                tokio::spawn(async move {
                    match tokio::try_join!(client_side, upstream_side) {
                        Ok((client, upstream)) => {
                            let (client, upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                            if super::idle::tunnel(client, upstream, TUNNEL_IDLE).await {
                                log::info!(service = name.as_str(); "closed a tunnel idle for {}s", TUNNEL_IDLE.as_secs());
                            }
                        }
                        Err(e) => {
                            log::info!(service = name.as_str(); "an upgrade did not complete: {e}")
                        }
                    }
                });
            }
        } else {
            strip_hop_by_hop(response.headers_mut());
        }
        response.map(Body::new)
    }
}
