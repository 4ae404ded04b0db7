//! The reverse proxy: the agent is the box's single web entry.
//!
//! Owns the route table: which name answers which upstream. Routes come from [`RouteSource`]s
//! (the installed apps, the `extra_routes` of the configuration file) and are published as
//! an immutable [`Table`] that every request reads without locking for long. [`Proxy::rebuild`]
//! makes a new table from the sources and the store (box name, fixed ports, mDNS renames); the
//! refresh loop (`reconcile`) calls it and then brings the certificate, the mDNS announcements
//! and the fixed-port listeners in line with it.
//!
//! Public names (`PublicHosts`, the reach domain): each route may also answer at a public
//! name (`pad.biblio.example.org`); any other name under the public domain gets the help
//! page, never the box's own pages, so the admin UI is not served under a public name. The
//! HTTP entry answers ACME HTTP-01 challenges (`/.well-known/acme-challenge/<token>`) while
//! one is pending.
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
//! replaced, it cannot be trusted at the edge). Every entry first refuses, with a page saying
//! why, what RFC 9112 says to refuse: a missing, repeated or malformed `Host` (userinfo,
//! spaces) and an absolute target naming another host (400), and `CONNECT` (405, the box is
//! no forward proxy); a client's body that breaks off or has bad chunk sizes is answered 400
//! and logged as the client's fault, not the service's (`forward`).
//!
//! Limits: HTTP/1.1 only (HTTP/2 to the entry would help many small files; browsers do well
//! with 1.1 on a LAN); one upstream per service.

mod entry;
mod forward;
mod idle;
pub mod limits;
mod pages;
mod reconcile;
mod serve;

pub use entry::{ACME_CHALLENGE, Entry};
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

/// Where the public names come from (the reach domain), set once by the daemon.
pub trait PublicHosts: Send + Sync {
    /// The public host name of the route `name`, when the box has a domain.
    fn public_host(&self, name: &str) -> Option<String>;
    /// The box's public domain.
    fn public_domain(&self) -> Option<String>;
    /// The key authorization for an ACME HTTP-01 token, while its order is pending.
    fn http01(&self, token: &str) -> Option<String>;
}

/// Who comes from outside the building, and what they may reach (the relay, the firewall's
/// per-service exposure), set once by the daemon. Visitors from outside get only the
/// services open to the outside, by name; never the box's own pages.
pub trait OutsideAccess: Send + Sync {
    /// Whether a connection to `local` from `peer` came from outside (through the relay).
    fn is_outside(&self, local: SocketAddr, peer: SocketAddr) -> bool;
    /// Whether the web entry `name` is open to the outside.
    fn open_outside(&self, name: &str) -> bool;
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
    panier_hw::names::dns_label(s, 63)
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
    /// Its public name (the reach domain), if the box has one.
    pub public_host: Option<String>,
}

/// What a `Host` leads to.
#[derive(Debug)]
pub enum Target<'a> {
    Service(&'a Published),
    /// A name of the box's form, or under its public domain, that no service has.
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
    /// The public domain (reach), if the box has one.
    pub public_domain: Option<String>,
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
                    public_host: None,
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
            public_domain: None,
            by_host,
        }
    }

    /// The same table with public names: `host_of` gives a route's public name by its name.
    pub fn with_public(
        mut self,
        domain: Option<String>,
        host_of: impl Fn(&str) -> Option<String>,
    ) -> Table {
        for (i, p) in self.routes.iter_mut().enumerate() {
            p.public_host = host_of(&p.route.name);
            if let Some(h) = &p.public_host {
                self.by_host.entry(h.clone()).or_insert(i);
            }
        }
        self.public_domain = domain;
        self
    }

    /// Where a request for `host` (lowercase, without port) goes.
    pub fn lookup(&self, host: &str) -> Target<'_> {
        if let Some(&i) = self.by_host.get(host) {
            return Target::Service(&self.routes[i]);
        }
        if let Some(domain) = &self.public_domain
            && (host == domain || host.ends_with(&format!(".{domain}")))
        {
            return Target::UnknownService;
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

    /// Whether `host` (as [`request_host`] gives it) is the box's: one of its announced or
    /// wanted names, or an IP address. A name the box does not know is someone else's, even
    /// if it resolves to the box (DNS rebinding); an address is never a rebinding, since a
    /// page's origin is then that address itself.
    pub fn is_own_host(&self, host: &str) -> bool {
        host.parse::<std::net::IpAddr>().is_ok()
            || host == self.box_host
            || host == format!("{}.local", self.box_name)
            || self.by_host.contains_key(host)
    }

    pub fn by_name(&self, name: &str) -> Option<&Published> {
        self.routes.iter().find(|p| p.route.name == name)
    }
}

/// Why a request's `Host` is refused: RFC 9112 §3.2 asks for a 400 when it is missing,
/// repeated or invalid. A repeated `Host` is the dangerous one: the proxy would route by one
/// and a service reading the other would see another virtual host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadHost {
    #[error("the request has no Host header")]
    Missing,
    #[error("the request has more than one Host header")]
    Several,
    #[error("the Host header is not a host name or address with an optional port")]
    Malformed,
    #[error("the request target names another host than the Host header")]
    Mismatch,
}

/// The `Host` of a request, lowercased, without port or trailing dot; refused when missing,
/// repeated, not of the form `name[:port]` / `[v6][:port]` (no userinfo, no spaces), or
/// different from an absolute request target's host.
pub fn request_host(req: &axum::http::Request<axum::body::Body>) -> Result<String, BadHost> {
    let mut values = req.headers().get_all(axum::http::header::HOST).iter();
    let raw = match (values.next(), values.next()) {
        (None, _) => return Err(BadHost::Missing),
        (Some(_), Some(_)) => return Err(BadHost::Several),
        (Some(v), None) => v.to_str().map_err(|_| BadHost::Malformed)?,
    };
    let host = parse_host(raw).ok_or(BadHost::Malformed)?;
    if let Some(target) = req.uri().host() {
        let target = target
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        if !target.eq_ignore_ascii_case(&host) {
            return Err(BadHost::Mismatch);
        }
    }
    Ok(host)
}

/// `uri-host [ ":" port ]` with a host name, an IPv4 address or a bracketed IPv6 address.
fn parse_host(raw: &str) -> Option<String> {
    let (host, port) = match raw.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            v6.parse::<std::net::Ipv6Addr>().ok()?;
            match after {
                "" => (v6, None),
                _ => (v6, Some(after.strip_prefix(':')?)),
            }
        }
        None => match raw.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        },
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let name_ok = |h: &str| {
        !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    if !raw.starts_with('[') && !name_ok(host) {
        return None;
    }
    Some(host.trim_end_matches('.').to_ascii_lowercase())
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
    public: std::sync::OnceLock<Arc<dyn PublicHosts>>,
    outside: std::sync::OnceLock<Arc<dyn OutsideAccess>>,
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
                public: std::sync::OnceLock::new(),
                outside: std::sync::OnceLock::new(),
                wake: tokio::sync::Notify::new(),
                changes: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// Sets the source of public names (once, by the daemon).
    pub fn set_public(&self, public: Arc<dyn PublicHosts>) {
        let _ = self.inner.public.set(public);
    }

    /// Sets who is outside and what they may reach (once, by the daemon).
    pub fn set_outside(&self, outside: Arc<dyn OutsideAccess>) {
        let _ = self.inner.outside.set(outside);
    }

    /// Whether this connection came from outside the building.
    pub fn is_outside(&self, local: SocketAddr, peer: SocketAddr) -> bool {
        self.inner
            .outside
            .get()
            .is_some_and(|o| o.is_outside(local, peer))
    }

    /// Whether `name` is open to visitors from outside.
    pub fn open_outside(&self, name: &str) -> bool {
        self.inner
            .outside
            .get()
            .is_some_and(|o| o.open_outside(name))
    }

    /// The key authorization for an HTTP-01 token, while one is pending.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.inner.public.get()?.http01(token)
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
        let mut table = Table::new(&box_name, &renames, routes);
        if let Some(public) = self.inner.public.get() {
            table = table.with_public(public.public_domain(), |n| public.public_host(n));
        }
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
        let t = t.with_public(Some("biblio.example.org".into()), |n| {
            (n == "pad").then(|| "pad.biblio.example.org".to_owned())
        });
        assert!(
            matches!(t.lookup("pad.biblio.example.org"), Target::Service(p) if p.route.name == "pad")
        );
        assert!(
            matches!(t.lookup("admin.biblio.example.org"), Target::UnknownService),
            "never the box's own pages under the public domain"
        );
        assert!(matches!(
            t.lookup("biblio.example.org"),
            Target::UnknownService
        ));
        assert!(matches!(t.lookup("biblio.local"), Target::TheBox));
    }

    #[test]
    fn host_header_forms() {
        let req = |hosts: &[&str]| {
            let mut b = axum::http::Request::builder();
            for h in hosts {
                b = b.header("host", *h);
            }
            b.body(axum::body::Body::empty()).unwrap()
        };
        let host = |h: &str| request_host(&req(&[h]));
        assert_eq!(host("Pad-Biblio.local:8443"), Ok("pad-biblio.local".into()));
        assert_eq!(host("[::1]:80"), Ok("::1".into()));
        assert_eq!(host("[fe80::1]"), Ok("fe80::1".into()));
        assert_eq!(host("biblio.local."), Ok("biblio.local".into()));
        assert_eq!(host("192.168.1.10"), Ok("192.168.1.10".into()));
        for bad in [
            "",
            "admin@biblio.local",
            "biblio .local",
            "biblio.local:",
            "biblio.local:80x",
            "[::1",
            "[::1]x",
            "[nope]:80",
            "a/b",
        ] {
            assert_eq!(host(bad), Err(BadHost::Malformed), "{bad:?}");
        }
        assert_eq!(request_host(&req(&[])), Err(BadHost::Missing));
        assert_eq!(
            request_host(&req(&["biblio.local", "pad-biblio.local"])),
            Err(BadHost::Several)
        );
        let absolute = axum::http::Request::builder()
            .uri("http://pad-biblio.local/")
            .header("host", "biblio.local")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(request_host(&absolute), Err(BadHost::Mismatch));
    }
}
