//! The refresh loop: table → certificate, mDNS announcements and fixed-port listeners.
//!
//! Every 5 seconds, or at once when woken ([`Proxy::wake`]), it rebuilds the route table and
//! brings the world in line: the server certificate covers every name and LAN address
//! (`Tls::ensure_leaf`, which also renews before expiry), mDNS announces every name, and each
//! service has a listener on its fixed port. Each step is idempotent, so a failed step is
//! simply tried again at the next round.

use super::limits::{Class, Limits};
use super::{Entry, Forwarder, Proxy, Table};
use crate::mdns::{Mdns, lan};
use crate::tls::{LeafNames, Tls};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const PERIOD: Duration = Duration::from_secs(5);

/// The listeners on the services' fixed ports (plain HTTP, for clients without mDNS).
pub struct FixedPorts {
    bind: IpAddr,
    forwarder: Forwarder,
    limits: Limits,
    proxy: Proxy,
    stop: watch::Receiver<bool>,
    running: Mutex<HashMap<u16, (String, tokio::task::JoinHandle<()>)>>,
}

impl FixedPorts {
    pub fn new(
        bind: IpAddr,
        forwarder: Forwarder,
        limits: Limits,
        proxy: Proxy,
        stop: watch::Receiver<bool>,
    ) -> FixedPorts {
        FixedPorts {
            bind,
            forwarder,
            limits,
            proxy,
            stop,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn update(&self, table: &Table) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let wanted: HashMap<u16, &str> = table
            .routes
            .iter()
            .filter_map(|p| p.port.map(|port| (port, p.route.name.as_str())))
            .collect();
        running.retain(|port, (name, task)| {
            let keep = wanted.get(port) == Some(&name.as_str());
            if !keep {
                task.abort();
            }
            keep
        });
        for (port, name) in wanted {
            if running.contains_key(&port) {
                continue;
            }
            let addr = SocketAddr::new(self.bind, port);
            let listener = match std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|_| l))
            {
                Ok(l) => l,
                Err(e) => {
                    log::warn!(service = name; "cannot listen on the fixed port {addr}: {e}");
                    continue;
                }
            };
            let listener = tokio::net::TcpListener::from_std(listener).expect("inside the runtime");
            let entry = Entry {
                proxy: Some(self.proxy.clone()),
                forwarder: self.forwarder.clone(),
                https: false,
                fixed: Some(name.to_owned()),
                box_router: None,
                limits: self.limits.clone(),
                class: Class::Public,
            };
            let task = tokio::spawn(super::serve(
                listener,
                None,
                Arc::new(entry),
                self.stop.clone(),
            ));
            log::info!(service = name; "answering on the fixed port {port}");
            running.insert(port, (name.to_owned(), task));
        }
    }
}

/// What the loop works with.
pub struct Refresh {
    pub proxy: Proxy,
    pub tls: Option<Tls>,
    pub mdns: Option<Mdns>,
    pub fixed: FixedPorts,
    pub lan_interface: Option<String>,
    /// The addresses the entries listen on (a specific one goes into the certificate).
    pub listen: Vec<SocketAddr>,
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
}

/// The names and addresses the server certificate must cover for `table`.
pub fn leaf_names(table: &Table, addresses: &[IpAddr]) -> LeafNames {
    let mut names = LeafNames::default();
    names.dns.insert(table.box_host.clone());
    names.dns.insert(format!("{}.local", table.box_name));
    names.dns.insert("localhost".into());
    for p in &table.routes {
        names.dns.insert(p.host.clone());
        names.dns.insert(p.wanted_host.clone());
    }
    names.ips.extend(addresses.iter().copied());
    names.ips.insert(IpAddr::from([127, 0, 0, 1]));
    names
        .ips
        .insert(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    names
}

impl Refresh {
    /// One round. `force` re-applies announcements and listeners even if the table is the same.
    pub fn once(&self, force: bool) {
        let changed = match self.proxy.rebuild() {
            Ok(c) => c,
            Err(e) => {
                log::error!("cannot rebuild the route table: {e}");
                return;
            }
        };
        let table = self.proxy.table();
        if let Some(tls) = &self.tls {
            let mut addresses = self
                .lan_interface
                .as_deref()
                .map(lan::addresses)
                .unwrap_or_default();
            addresses.extend(
                self.listen
                    .iter()
                    .map(|a| a.ip())
                    .filter(|ip| !ip.is_unspecified()),
            );
            if let Err(e) = tls.ensure_leaf(&leaf_names(&table, &addresses)) {
                log::error!("cannot issue the server certificate: {e}");
            }
        }
        if changed || force {
            if let Some(mdns) = &self.mdns {
                mdns.announce(&table, self.http_port, self.https_port);
            }
            self.fixed.update(&table);
        }
    }
}

/// Runs [`Refresh::once`] every few seconds, and when woken, until `stop`.
pub async fn run_refresh(refresh: Refresh, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = refresh.proxy.woken() => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
        let r = &refresh;
        // Key generation and SQLite are blocking; they are short, but keep them off the
        // request workers.
        tokio::task::block_in_place(|| r.once(false));
    }
}
