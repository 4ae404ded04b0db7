//! The reverse proxy: the agent is the box's single web entry.
//!
//! Owns the route table: which name answers which upstream. Routes come from [`RouteSource`]s
//! (the installed apps, the `extra_routes` of the configuration file) and are published as
//! an immutable [`Table`] that every request reads without locking for long. [`Proxy::rebuild`]
//! makes a new table from the sources and the store (box name, fixed ports, mDNS renames); the
//! refresh loop (`reconcile`) calls it and then brings the certificate, the mDNS announcements
//! and the fixed-port listeners in line with it.
//!
//! Routing (`entry`): a request's `Host` decides. `<service>-<box>.local` (or the name mDNS
//! announces instead after a conflict) goes to that service; any other `…-<box>.local` gets a
//! helpful page listing the services; everything else (the box's own name, its IP addresses)
//! is the box: the portal on HTTP, the admin UI on HTTPS. Each service also answers on its
//! fixed port, assigned once and kept (`Store::assign_port`), for clients without mDNS.
//!
//! Invariants: bodies are streamed both ways, never buffered (`forward`); a service's maximum
//! body size is enforced from `Content-Length` up front and while streaming; hop-by-hop
//! headers are not forwarded; `X-Forwarded-For` is the TCP peer (a client's own value is
//! replaced, it cannot be trusted at the edge).
//!
//! Limits: HTTP/1.1 only (HTTP/2 to the entry would help many small files; browsers do well
//! with 1.1 on a LAN); one upstream per service.

mod entry;
mod forward;
mod pages;
mod reconcile;
mod serve;

pub use entry::Entry;
pub use forward::Forwarder;
pub use reconcile::{FixedPorts, Refresh, leaf_names, run_refresh};
pub use serve::serve;

pub use crate::catalog::manifest::Text;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// A web entry point of a service, as the proxy serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The service's web name, one DNS label (`pad`): it answers at `pad-<box>.local`.
    pub name: String,
    /// What the portal shows, in French and English.
    pub title: Text,
    pub description: Text,
    pub upstream: SocketAddr,
    /// Largest request body accepted; 0 means no limit.
    pub max_body_bytes: u64,
    /// Whether WebSocket upgrades are passed through.
    pub websocket: bool,
    /// Why the service does not work on its fixed port (plain HTTP, any Host), when it does
    /// not: that port then answers this instead of forwarding.
    pub fixed_port_refusal: Option<Text>,
    /// Why the service keeps the address it was installed with (its address is part of its
    /// data), when it does: a box rename or an mDNS rename does not move it.
    pub address_kept: Option<Text>,
}

/// Something that knows routes: the apps, the configuration file.
pub trait RouteSource: Send + Sync {
    fn routes(&self) -> Vec<Route>;
}

/// A route from the configuration file (`[[extra_routes]]`), for web servers outside the app
/// system and for tests.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraRoute {
    pub name: String,
    pub upstream: SocketAddr,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    /// In MiB; default 1024.
    #[serde(default)]
    pub max_body_mib: Option<u64>,
    #[serde(default = "yes")]
    pub websocket: bool,
}

fn yes() -> bool {
    true
}

/// The routes of the configuration file.
pub struct ExtraRoutes(pub Vec<ExtraRoute>);

impl RouteSource for ExtraRoutes {
    fn routes(&self) -> Vec<Route> {
        self.0
            .iter()
            .filter(|r| valid_label(&r.name))
            .map(|r| Route {
                name: r.name.clone(),
                title: Text::same(r.title.as_deref().unwrap_or(&r.name)),
                description: Text::same(&r.description),
                upstream: r.upstream,
                max_body_bytes: r.max_body_mib.unwrap_or(1024) << 20,
                websocket: r.websocket,
                fixed_port_refusal: None,
                address_kept: None,
            })
            .collect()
    }
}

/// A DNS label we can announce: lowercase letters, digits, inner hyphens, at most 63 bytes.
pub fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A route as published: its host name and fixed port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub route: Route,
    /// The wanted host name (`pad-biblio.local`).
    pub wanted_host: String,
    /// The name announced, which differs from the wanted one after an mDNS conflict.
    pub host: String,
    pub port: Option<u16>,
}

/// What a `Host` leads to.
#[derive(Debug)]
pub enum Target<'a> {
    Service(&'a Published),
    /// A name of the box's form that no service has.
    UnknownService,
    TheBox,
}

/// The published routing: immutable, replaced whole by [`Proxy::rebuild`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub box_name: String,
    /// `<box>.local` as announced.
    pub box_host: String,
    pub routes: Vec<Published>,
    by_host: HashMap<String, usize>,
}

impl Table {
    pub fn new(
        box_name: &str,
        renames: &HashMap<String, String>,
        routes: Vec<(Route, Option<u16>)>,
    ) -> Table {
        let announced = |wanted: String| renames.get(&wanted).cloned().unwrap_or(wanted);
        let box_host = announced(format!("{box_name}.local"));
        let mut published: Vec<Published> = routes
            .into_iter()
            .map(|(route, port)| {
                let wanted_host = format!("{}-{box_name}.local", route.name);
                Published {
                    host: announced(wanted_host.clone()),
                    wanted_host,
                    route,
                    port,
                }
            })
            .collect();
        published.sort_by(|a, b| a.route.name.cmp(&b.route.name));
        published.dedup_by(|a, b| a.route.name == b.route.name);
        let mut by_host = HashMap::new();
        for (i, p) in published.iter().enumerate() {
            by_host.insert(p.wanted_host.clone(), i);
            by_host.insert(p.host.clone(), i);
        }
        Table {
            box_name: box_name.to_owned(),
            box_host,
            routes: published,
            by_host,
        }
    }

    /// Where a request for `host` (lowercase, without port) goes.
    pub fn lookup(&self, host: &str) -> Target<'_> {
        if let Some(&i) = self.by_host.get(host) {
            return Target::Service(&self.routes[i]);
        }
        if host != self.box_host
            && host.strip_suffix(".local").is_some_and(|label| {
                label.contains(&format!("-{}", self.box_name)) && label != self.box_name
            })
        {
            return Target::UnknownService;
        }
        Target::TheBox
    }

    pub fn by_name(&self, name: &str) -> Option<&Published> {
        self.routes.iter().find(|p| p.route.name == name)
    }
}

/// The `Host` of a request, lowercased, without port or trailing dot.
pub fn request_host(req: &axum::http::Request<axum::body::Body>) -> String {
    let raw = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    let without_port = if raw.starts_with('[') {
        raw.split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or("")
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// The handle on the route table.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    table: RwLock<Arc<Table>>,
    store: Store,
    sources: Vec<Arc<dyn RouteSource>>,
    port_base: u16,
    provisioned_name: Option<String>,
    wake: tokio::sync::Notify,
    /// Bumped whenever [`Proxy::rebuild`] publishes a different table.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    pub fn new(
        store: Store,
        sources: Vec<Arc<dyn RouteSource>>,
        port_base: u16,
        provisioned_name: Option<String>,
    ) -> Proxy {
        Proxy {
            inner: Arc::new(Inner {
                table: RwLock::new(Arc::new(Table::default())),
                store,
                sources,
                port_base,
                provisioned_name,
                wake: tokio::sync::Notify::new(),
                changes: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// The current table (cheap: one `Arc` clone).
    pub fn table(&self) -> Arc<Table> {
        self.inner
            .table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks the refresh loop to rebuild now (after an install, a rename, an mDNS conflict).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Changes whenever the table does (the firewall follows the fixed ports with it).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub(crate) async fn woken(&self) {
        self.inner.wake.notified().await
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The box's name: the one set up, else the provisioned one, else `panier`.
    pub fn box_name(&self) -> Result<String, StoreError> {
        Ok(self
            .inner
            .store
            .box_settings()?
            .name
            .map(|n| n.to_string())
            .or_else(|| self.inner.provisioned_name.clone())
            .unwrap_or_else(|| "panier".to_owned()))
    }

    /// Rebuilds the table from the sources and the store; returns whether it changed.
    pub fn rebuild(&self) -> Result<bool, StoreError> {
        let box_name = self.box_name()?;
        let renames: HashMap<String, String> = self
            .inner
            .store
            .mdns_renames()?
            .into_iter()
            .map(|r| (r.wanted, r.announced))
            .collect();
        let mut routes = Vec::new();
        for source in &self.inner.sources {
            for route in source.routes() {
                let port = self
                    .inner
                    .store
                    .assign_port(&route.name, self.inner.port_base)?;
                if port.is_none() {
                    log::warn!(service = route.name.as_str(); "no fixed port left for this service");
                }
                routes.push((route, port));
            }
        }
        let table = Table::new(&box_name, &renames, routes);
        let mut current = self.inner.table.write().unwrap_or_else(|p| p.into_inner());
        if **current == table {
            return Ok(false);
        }
        *current = Arc::new(table);
        drop(current);
        self.inner.changes.send_modify(|n| *n += 1);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str) -> Route {
        Route {
            name: name.into(),
            title: Text::same(name),
            description: Text::same(""),
            upstream: "127.0.0.1:9".parse().unwrap(),
            max_body_bytes: 0,
            websocket: true,
            fixed_port_refusal: None,
            address_kept: None,
        }
    }

    #[test]
    fn hosts_route_to_services_the_box_or_the_help_page() {
        let renames = HashMap::from([(
            "wiki-biblio.local".to_owned(),
            "wiki-biblio-2.local".to_owned(),
        )]);
        let t = Table::new(
            "biblio",
            &renames,
            vec![(route("pad"), Some(8001)), (route("wiki"), Some(8002))],
        );
        assert!(
            matches!(t.lookup("pad-biblio.local"), Target::Service(p) if p.route.name == "pad")
        );
        assert!(
            matches!(t.lookup("wiki-biblio-2.local"), Target::Service(p) if p.route.name == "wiki")
        );
        assert!(matches!(
            t.lookup("cloud-biblio.local"),
            Target::UnknownService
        ));
        assert!(matches!(t.lookup("biblio.local"), Target::TheBox));
        assert!(matches!(t.lookup("192.168.1.10"), Target::TheBox));
    }

    #[test]
    fn host_header_forms() {
        let req = |h: &str| {
            axum::http::Request::builder()
                .header("host", h)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(
            request_host(&req("Pad-Biblio.local:8443")),
            "pad-biblio.local"
        );
        assert_eq!(request_host(&req("[::1]:80")), "::1");
        assert_eq!(request_host(&req("biblio.local.")), "biblio.local");
    }
}
