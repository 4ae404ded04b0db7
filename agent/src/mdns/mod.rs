//! Local names: announcing `<box>.local` and every `<service>-<box>.local` with mDNS.
//!
//! Choice: the agent announces with the `mdns-sd` crate rather than avahi in the image.
//! The names follow the route table, which lives in the agent; with avahi we would write
//! `/etc/avahi/hosts` and service files and reload avahi at each change, and read its journal
//! to learn of conflicts. In the agent, a conflict arrives as an event (`NameChange`) that we
//! store and show to the admin, and no second daemon needs configuring, watching and updating.
//! The image still needs no avahi; clients (laptops, phones) bring their own resolver.
//!
//! Owns: the registrations of the daemon: for the box and for each service, an `_http._tcp`
//! and an `_https._tcp` record whose host name gets A/AAAA records for the LAN interface's
//! current addresses (`enable_addr_auto`: mdns-sd follows address changes itself).
//!
//! Invariants: only the LAN interface is used (every other one, loopback included, is
//! disabled). A name already used by another device is resolved by mdns-sd with a `-2`
//! suffix (RFC 6762 §9); we record the rename in the store (`mdns_renames`), the proxy then
//! routes and certifies the new name, and the admin's Access page shows it.
//!
//! Limits: one LAN interface; a rename is kept until the admin clears it (the other device
//! may come back).

pub mod lan;

use crate::proxy::{Proxy, Table};
use crate::store::Store;
use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("cannot start the mDNS responder on {interface}: {source}")]
    Start {
        interface: String,
        source: mdns_sd::Error,
    },
}

/// What one registration announces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Announcement {
    kind: &'static str,
    instance: String,
    host: String,
    port: u16,
    path: String,
}

/// The handle on the responder.
#[derive(Clone)]
pub struct Mdns {
    daemon: ServiceDaemon,
    interface: String,
    /// Our key (`instance.kind`) → what is announced and the daemon's full name for it.
    registered: Arc<Mutex<BTreeMap<String, (Announcement, String)>>>,
}

impl Mdns {
    /// Starts the responder on `interface` and the watcher that records name conflicts.
    pub fn start(interface: &str, store: Store, proxy: Proxy) -> Result<Mdns, MdnsError> {
        let err = |source| MdnsError::Start {
            interface: interface.to_owned(),
            source,
        };
        let daemon = ServiceDaemon::new().map_err(err)?;
        daemon.disable_interface(IfKind::All).map_err(err)?;
        daemon
            .enable_interface(IfKind::Name(interface.to_owned()))
            .map_err(err)?;
        let events = daemon.monitor().map_err(err)?;
        std::thread::Builder::new()
            .name("mdns-events".into())
            .spawn(move || {
                while let Ok(event) = events.recv() {
                    match event {
                        DaemonEvent::NameChange(change) => {
                            let (wanted, announced) = (change.original.trim_end_matches('.'), change.new_name.trim_end_matches('.'));
                            log::warn!("the name {wanted} is already used on the network; announcing {announced} instead");
                            if let Err(e) = store.record_mdns_rename(wanted, announced) {
                                log::error!("{e}");
                            }
                            proxy.wake();
                        }
                        DaemonEvent::Error(e) => log::warn!("mDNS: {e}"),
                        _ => {}
                    }
                }
            })
            .expect("a thread starts");
        log::info!("announcing names with mDNS on {interface}");
        Ok(Mdns {
            daemon,
            interface: interface.to_owned(),
            registered: Arc::new(Mutex::new(BTreeMap::new())),
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Brings the registrations in line with `table`: the box and each service, on the given
    /// HTTP and HTTPS ports.
    pub fn announce(&self, table: &Table, http_port: Option<u16>, https_port: Option<u16>) {
        let mut wanted = BTreeMap::new();
        let mut add = |instance: &str, host: &str, path: &str| {
            for (kind, port) in [
                ("_http._tcp.local.", http_port),
                ("_https._tcp.local.", https_port),
            ] {
                if let Some(port) = port {
                    let a = Announcement {
                        kind,
                        instance: instance.to_owned(),
                        host: format!("{host}."),
                        port,
                        path: path.to_owned(),
                    };
                    wanted.insert(format!("{instance}.{kind}"), a);
                }
            }
        };
        add(&format!("Panier {}", table.box_name), &table.box_host, "/");
        for p in &table.routes {
            add(
                &format!("{} ({})", p.route.title.fr, table.box_name),
                &p.host,
                "/",
            );
        }
        let mut registered = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        let stale: Vec<String> = registered
            .iter()
            .filter(|(k, (a, _))| wanted.get(*k) != Some(a))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some((_, fullname)) = registered.remove(&key) {
                let _ = self.daemon.unregister(&fullname);
            }
        }
        for (key, a) in wanted {
            if registered.contains_key(&key) {
                continue;
            }
            let props = [("path", a.path.as_str())];
            match ServiceInfo::new(a.kind, &a.instance, &a.host, (), a.port, &props[..]) {
                Ok(info) => {
                    let info = info.enable_addr_auto();
                    let fullname = info.get_fullname().to_owned();
                    match self.daemon.register(info) {
                        Ok(()) => {
                            registered.insert(key, (a, fullname));
                        }
                        Err(e) => log::warn!("cannot announce {}: {e}", a.host),
                    }
                }
                Err(e) => log::warn!("cannot announce {}: {e}", a.host),
            }
        }
    }
}
