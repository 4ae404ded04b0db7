//! The firewall: the box's own nftables table `inet panier`, LAN-only by default, safe to
//! change, explained in plain words.
//!
//! What it owns: the admin's choices (store: LAN override, SSH, per-service exposure, a change
//! waiting for confirmation), the table `inet panier` (and no other), and the explanation.
//!
//! Flow: intent → store → generate → apply. A change builds the new [`FirewallState`]
//! (choices + detected LAN + the services' published ports), generates the whole table with
//! the pure [`ruleset::ruleset`], applies it in one nft batch, and only then records the new
//! policy (with its audit entry). The table is applied at start, after each change, on
//! `panier firewall reload`, and by a watch loop every [`WATCH_EVERY`] that re-applies it
//! whenever the live table is missing or differs in rule count (someone ran `nft flush
//! ruleset`) or the wanted table changed (a service published a port, an interface got a new
//! network); the daemon also wakes that loop at once when the proxy's routes change, since
//! each service's fixed port on the proxy follows the service's exposure ([`ProxyPorts`]). The engine's own tables are never touched; `forward` runs before its filter
//! chains, so engine restarts that re-create them change nothing.
//!
//! Invariants:
//! - The admin UI's port is accepted from the LAN only, in every generated table.
//! - A change made over the network that would leave the requester outside the LAN is refused
//!   ([`FirewallError::WouldCutAdmin`]).
//! - A change made over the network (not loopback, not the local socket) is reverted after
//!   [`REVERT_AFTER`] unless confirmed from a fresh connection: the change's answer closes its
//!   connection, and a confirmation from the same client address and port is refused. The
//!   policy to go back to is stored, so an agent restart in the window still reverts (at once
//!   if the deadline passed, else when it comes).
//! - nft refusing a batch changes nothing: the previous table stays, the store is not
//!   written, and nft's own message is reported.
//!
//! Limits: services reached by name through the proxy share its ports; exposing a service by
//! name to the outside is the proxy's decision per host name ([`Firewall::exposure_of`]).
//! Published ports unknown to the firewall are open to the LAN and closed to the outside.

mod backend;
pub mod blocked;
pub mod explain;
pub mod lan;
pub mod overview;
pub mod provisioned;
pub mod ruleset;
pub mod services;
#[cfg(test)]
mod tests;
pub mod types;

pub use backend::{BackendError, FirewallBackend, Nft};
pub use services::{EngineLabels, NoServices, ProxyPorts, PublishedPorts};
pub use types::{Exposure, FirewallState, Port, Proto, ServiceRule, Subnet};

use crate::admins::Actor;
use crate::names::Invalid;
use crate::store::{NewAudit, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a change made over the network waits for its confirmation.
pub const REVERT_AFTER: Duration = Duration::from_secs(60);
/// How often the live table is compared with the wanted one.
pub const WATCH_EVERY: Duration = Duration::from_secs(5);

/// The admin's choices, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FirewallPolicy {
    /// Explicit LAN subnets; `None` means "detected from the interfaces".
    pub lan_override: Option<Vec<Subnet>>,
    pub ssh_enabled: bool,
    /// Exposure per app id; an app without an entry is on the LAN.
    pub exposures: BTreeMap<String, Exposure>,
}

/// One change an admin asks for.
#[derive(Debug, Clone)]
pub enum Change {
    Exposure { app: AppName, exposure: Exposure },
    Lan(Option<Vec<Subnet>>),
    Ssh(bool),
}

/// An app id as the firewall accepts it: lowercase letters, digits and inner hyphens, at most
/// 40 characters (the catalog's ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "etherpad")]
pub struct AppName(String);

impl AppName {
    pub fn parse(text: &str) -> Result<AppName, Invalid> {
        let ok = !text.is_empty()
            && text.len() <= 40
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if ok {
            Ok(AppName(text.to_owned()))
        } else {
            Err(Invalid {
                key: "app_id",
                message: format!("'{text}' is not a service id"),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppName {
    type Error = Invalid;
    fn try_from(v: String) -> Result<Self, Invalid> {
        AppName::parse(&v)
    }
}

impl From<AppName> for String {
    fn from(v: AppName) -> String {
        v.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error(
        "this change would cut your own connection: your address {client} would no longer be in the local network. Make it from a computer of the new local network, or on the box with the panier command."
    )]
    WouldCutAdmin { client: IpAddr },
    #[error("nft refused the new rules, so the previous ones stay in place: {message}")]
    Refused { message: String },
    #[error("the firewall cannot be applied: {0}")]
    Backend(BackendError),
    #[error("the firewall is turned off on this agent (--firewall off)")]
    Disabled,
    #[error("there is no firewall change waiting for confirmation")]
    NothingPending,
    #[error("confirm from a new connection: reload the page, then confirm")]
    NotFresh,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BackendError> for FirewallError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Refused { stderr } => FirewallError::Refused { message: stderr },
            other => FirewallError::Backend(other),
        }
    }
}

/// What a change answers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeOutcome {
    /// Unix time at which the change is undone unless confirmed; `None` when it needs no
    /// confirmation (made on the box itself).
    pub revert_at: Option<i64>,
}

/// Fixed facts of this box.
#[derive(Clone)]
pub struct FirewallOptions {
    pub admin_port: Port,
    pub portal_port: Port,
    pub revert_after: Duration,
    pub detect_lan: fn() -> Vec<Subnet>,
}

struct Pending {
    generation: u64,
    from: Option<SocketAddr>,
}

#[derive(Default)]
struct Runtime {
    generation: u64,
    pending: Option<Pending>,
    /// The JSON of the last batch applied, to notice when the wanted table changes.
    applied: Option<String>,
    last_error: Option<String>,
}

struct Inner {
    store: Store,
    backend: Option<Arc<dyn FirewallBackend>>,
    services: Arc<dyn PublishedPorts>,
    proxy: Arc<dyn ProxyPorts>,
    options: FirewallOptions,
    /// Wakes the watch loop before its next tick (the proxy's routes changed).
    wake: tokio::sync::Notify,
    runtime: Mutex<Runtime>,
    /// Serializes changes, reverts and re-applications.
    apply_lock: Mutex<()>,
}

/// A service's published ports and its fixed proxy port, gathered for the ruleset.
type ServicePorts = (Vec<(Proto, Port)>, Option<Port>);

/// The firewall handle (cheap to clone).
#[derive(Clone)]

pub struct Firewall {
    inner: Arc<Inner>,
}

fn is_remote(from: Option<SocketAddr>) -> Option<SocketAddr> {
    from.filter(|a| !a.ip().is_loopback() && !a.ip().to_canonical().is_loopback())
}

impl Firewall {
    /// `backend: None` keeps and explains the policy without applying it (`--firewall off`).
    /// `services` tells the ports the containers publish, `proxy` the proxy's fixed ports.
    pub fn new(
        store: Store,
        backend: Option<Arc<dyn FirewallBackend>>,
        services: Arc<dyn PublishedPorts>,
        proxy: Arc<dyn ProxyPorts>,
        options: FirewallOptions,
    ) -> Firewall {
        Firewall {
            inner: Arc::new(Inner {
                store,
                backend,
                services,
                proxy,
                options,
                wake: tokio::sync::Notify::new(),
                runtime: Mutex::new(Runtime::default()),
                apply_lock: Mutex::new(()),
            }),
        }
    }

    /// Asks the watch loop to compare the live table with the wanted one now, rather than at
    /// its next tick (called when the proxy's routes change).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
        self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn enabled(&self) -> bool {
        self.inner.backend.is_some()
    }

    pub fn options(&self) -> &FirewallOptions {
        &self.inner.options
    }

    pub fn policy(&self) -> Result<FirewallPolicy, FirewallError> {
        Ok(self.inner.store.firewall_policy()?)
    }

    pub fn detected_lan(&self) -> Vec<Subnet> {
        (self.inner.options.detect_lan)()
    }

    /// The exposure of `app` (for the proxy's per-name decision).
    pub fn exposure_of(&self, app: &str) -> Result<Exposure, FirewallError> {
        Ok(self
            .policy()?
            .exposures
            .get(app)
            .copied()
            .unwrap_or_default())
    }

    /// The state the ruleset is generated from, for `policy`.
    pub fn state_for(&self, policy: &FirewallPolicy) -> FirewallState {
        let lan_subnets = policy
            .lan_override
            .clone()
            .unwrap_or_else(|| self.detected_lan());
        let mut by_app: BTreeMap<String, ServicePorts> = policy
            .exposures
            .keys()
            .map(|a| (a.clone(), Default::default()))
            .collect();
        for (app, proto, port) in self.inner.services.published() {
            by_app.entry(app).or_default().0.push((proto, port));
        }
        for (app, port) in self.inner.proxy.proxy_ports() {
            by_app.entry(app).or_default().1 = Some(port);
        }
        let services = by_app
            .into_iter()
            .map(|(app, (ports, proxy_port))| ServiceRule {
                exposure: policy.exposures.get(&app).copied().unwrap_or_default(),
                app,
                ports,
                proxy_port,
            })
            .collect();
        FirewallState {
            lan_subnets,
            admin_port: self.inner.options.admin_port,
            portal_port: self.inner.options.portal_port,
            ssh_enabled: policy.ssh_enabled,
            services,
            // The relay the box joined (`reach::relay`): its tunnel interface.
            relay_interface: match self.inner.store.relay() {
                Ok(relay) => relay.map(|_| crate::reach::relay::INTERFACE.to_owned()),
                Err(e) => {
                    log::error!("{e}");
                    None
                }
            },
        }
    }

    pub fn state(&self) -> Result<FirewallState, FirewallError> {
        Ok(self.state_for(&self.policy()?))
    }

    /// Generates and applies the table for `state`. Returns the number of rules.
    fn apply_state(&self, state: &FirewallState) -> Result<usize, FirewallError> {
        let backend = self.inner.backend.as_ref().ok_or(FirewallError::Disabled)?;
        let batch = ruleset::ruleset(state);
        let json = serde_json::to_string(&batch).expect("a ruleset serializes");
        let result = backend.apply(&batch);
        let mut rt = self.runtime();
        match result {
            Ok(()) => {
                rt.applied = Some(json);
                rt.last_error = None;
                Ok(ruleset::rule_count(&batch))
            }
            Err(e) => {
                rt.last_error = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    /// Applies the stored policy now (`panier firewall reload`, start).
    pub fn reload(&self) -> Result<usize, FirewallError> {
        let _guard = self
            .inner
            .apply_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let state = self.state()?;
        self.apply_state(&state)
    }

    /// [`Firewall::reload`] asked by an admin, audited.
    pub fn reload_as(&self, actor: &Actor) -> Result<usize, FirewallError> {
        let result = self.reload();
        let (outcome, detail) = match &result {
            Ok(n) => ("ok", format!("{n} rules")),
            Err(e) => ("failed", e.to_string()),
        };
        self.inner.store.record(&NewAudit {
            actor: actor.audit_name(),
            action: "firewall_reload",
            target: String::new(),
            result: outcome,
            detail,
        })?;
        result
    }

    /// Re-applies when the live table is missing or not the one wanted. Returns whether it did.
    pub fn repair(&self) -> Result<bool, FirewallError> {
        let Some(backend) = &self.inner.backend else {
            return Ok(false);
        };
        let _guard = self
            .inner
            .apply_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let state = self.state()?;
        let batch = ruleset::ruleset(&state);
        let wanted = serde_json::to_string(&batch).expect("a ruleset serializes");
        let live = backend.rule_count()?;
        let same_wanted = self.runtime().applied.as_deref() == Some(wanted.as_str());
        if same_wanted && live == Some(ruleset::rule_count(&batch)) {
            return Ok(false);
        }
        if live.is_none() {
            log::warn!(
                "the table inet panier is missing (flushed by hand, or the engine reset the ruleset): applying it again"
            );
        } else if same_wanted {
            log::warn!("the table inet panier was changed outside Panier: applying it again");
        } else {
            log::info!("the services or the network changed: applying the firewall again");
        }
        self.apply_state(&state)?;
        Ok(true)
    }

    /// The live table, as nft prints it.
    pub fn live(&self) -> Result<Option<String>, FirewallError> {
        let backend = self.inner.backend.as_ref().ok_or(FirewallError::Disabled)?;
        Ok(backend.show()?)
    }

    pub fn last_error(&self) -> Option<String> {
        self.runtime().last_error.clone()
    }

    /// The deadline of the change waiting for confirmation, if any.
    pub fn pending_until(&self) -> Result<Option<i64>, FirewallError> {
        Ok(self.inner.store.firewall_pending()?.map(|(_, until)| until))
    }

    /// Records and applies `change`. `from` is the TCP peer (`None` on the local socket).
    pub fn change(
        &self,
        actor: &Actor,
        from: Option<SocketAddr>,
        change: Change,
    ) -> Result<ChangeOutcome, FirewallError> {
        let _guard = self
            .inner
            .apply_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let current = self.policy()?;
        let mut next = current.clone();
        let (action, target) = match &change {
            Change::Exposure { app, exposure } => {
                next.exposures.insert(app.as_str().to_owned(), *exposure);
                (
                    "firewall_exposure",
                    format!("{}={}", app.as_str(), exposure.as_str()),
                )
            }
            Change::Lan(subnets) => {
                next.lan_override = subnets.clone();
                let text = subnets.as_ref().map_or("auto".to_owned(), |l| {
                    l.iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                });
                ("firewall_lan", text)
            }
            Change::Ssh(on) => {
                next.ssh_enabled = *on;
                ("firewall_ssh", if *on { "on" } else { "off" }.to_owned())
            }
        };
        let audit = |result: &'static str, detail: String| NewAudit {
            actor: actor.audit_name(),
            action,
            target: target.clone(),
            result,
            detail,
        };
        let remote = is_remote(from);
        let state = self.state_for(&next);
        if let Some(peer) = remote {
            let ip = peer.ip().to_canonical();
            let lan = ruleset::lan_with_link_local(&state.lan_subnets);
            if !lan.iter().any(|s| s.contains(ip)) {
                let e = FirewallError::WouldCutAdmin { client: ip };
                self.inner.store.record(&audit("refused", e.to_string()))?;
                return Err(e);
            }
        }
        if let Err(e) = self.apply_state(&state)
            && !matches!(e, FirewallError::Disabled)
        {
            self.inner.store.record(&audit("failed", e.to_string()))?;
            return Err(e);
        }
        // Over the network: keep the last confirmed policy to go back to.
        let pending = match remote {
            Some(_) => {
                let previous = self
                    .inner
                    .store
                    .firewall_pending()?
                    .map(|(p, _)| p)
                    .unwrap_or(current.clone());
                Some((
                    previous,
                    crate::store::now() + self.inner.options.revert_after.as_secs() as i64,
                ))
            }
            None => None,
        };
        let saved = self.inner.store.save_firewall_policy(
            &next,
            pending.as_ref().map(|(p, t)| (p, *t)),
            &audit("ok", String::new()),
        );
        if let Err(e) = saved {
            // Keep the kernel in step with the store.
            let _ = self.apply_state(&self.state_for(&current));
            return Err(e.into());
        }
        let mut rt = self.runtime();
        rt.generation += 1;
        rt.pending = remote.map(|peer| Pending {
            generation: rt.generation,
            from: Some(peer),
        });
        let generation = rt.generation;
        drop(rt);
        if let Some((_, until)) = &pending {
            self.schedule_revert(generation, self.inner.options.revert_after);
            log::info!(action = action, target = target.as_str(); "firewall changed over the network; reverting at {until} unless confirmed");
        } else {
            log::info!(action = action, target = target.as_str(); "firewall changed");
        }
        Ok(ChangeOutcome {
            revert_at: pending.map(|(_, t)| t),
        })
    }

    /// Keeps the pending change. Refused from the connection that made it.
    pub fn confirm(&self, actor: &Actor, from: Option<SocketAddr>) -> Result<(), FirewallError> {
        let _guard = self
            .inner
            .apply_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.inner.store.firewall_pending()?.is_none() {
            return Err(FirewallError::NothingPending);
        }
        let mut rt = self.runtime();
        if let (Some(p), Some(f)) = (&rt.pending, from)
            && p.from == Some(f)
        {
            return Err(FirewallError::NotFresh);
        }
        rt.pending = None;
        rt.generation += 1;
        drop(rt);
        self.inner.store.clear_firewall_pending(&NewAudit {
            actor: actor.audit_name(),
            action: "firewall_confirm",
            target: String::new(),
            result: "ok",
            detail: String::new(),
        })?;
        log::info!("firewall change confirmed");
        Ok(())
    }

    fn schedule_revert(&self, generation: u64, after: Duration) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            log::error!("no runtime to schedule the firewall revert");
            return;
        };
        let fw = self.clone();
        handle.spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tokio::task::spawn_blocking(move || fw.revert(Some(generation))).await;
        });
    }

    /// Goes back to the stored previous policy if the change `generation` is still pending
    /// (`None`: whatever is pending, at start).
    fn revert(&self, generation: Option<u64>) {
        let _guard = self
            .inner
            .apply_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(g) = generation {
            let rt = self.runtime();
            if rt.pending.as_ref().map(|p| p.generation) != Some(g) {
                return;
            }
        }
        let previous = match self.inner.store.firewall_pending() {
            Ok(Some((p, _))) => p,
            Ok(None) => return,
            Err(e) => {
                log::error!("cannot read the firewall change to revert: {e}");
                return;
            }
        };
        let audit = |result, detail| NewAudit {
            actor: "panier (automatic revert)".into(),
            action: "firewall_revert",
            target: String::new(),
            result,
            detail,
        };
        let applied = match self.apply_state(&self.state_for(&previous)) {
            Ok(_) | Err(FirewallError::Disabled) => Ok(()),
            Err(e) => Err(e),
        };
        match applied.map_err(|e| e.to_string()).and_then(|()| {
            self.inner
                .store
                .save_firewall_policy(&previous, None, &audit("ok", String::new()))
                .map_err(|e| e.to_string())
        }) {
            Ok(()) => log::warn!(
                "the firewall change was not confirmed in time: the previous rules are back"
            ),
            Err(e) => {
                log::error!("cannot revert the unconfirmed firewall change: {e}");
                let _ = self.inner.store.record(&audit("failed", e));
            }
        }
        let mut rt = self.runtime();
        rt.pending = None;
        rt.generation += 1;
    }

    /// At start: resumes (or performs) a revert left pending, applies the table, and starts
    /// the watch loop. Errors are logged: the agent keeps serving the admin UI.
    pub fn start(&self) {
        if self.inner.backend.is_none() {
            log::warn!(
                "the firewall is off (--firewall off): the box's table inet panier is not applied"
            );
            return;
        }
        match self.inner.store.firewall_pending() {
            Ok(Some((_, until))) => {
                let left = until - crate::store::now();
                if left <= 0 {
                    self.revert(None);
                } else {
                    let generation = {
                        let mut rt = self.runtime();
                        rt.generation += 1;
                        rt.pending = Some(Pending {
                            generation: rt.generation,
                            from: None,
                        });
                        rt.generation
                    };
                    self.schedule_revert(generation, Duration::from_secs(left as u64));
                }
            }
            Ok(None) => {}
            Err(e) => log::error!("cannot read the pending firewall change: {e}"),
        }
        match self.reload() {
            Ok(n) => log::info!("firewall applied: table inet panier with {n} rules"),
            Err(e) => log::error!("the firewall could not be applied at start: {e}"),
        }
        let fw = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = fw.inner.wake.notified() => {}
                }
                let f = fw.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || f.repair()).await {
                    log::error!("the firewall watch could not repair the table: {e}");
                }
            }
        });
    }
}

/// Runs a blocking firewall call off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FirewallError> + Send + 'static,
) -> Result<T, FirewallError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(FirewallError::Backend(BackendError::Listing {
            stderr: format!("the firewall task failed: {e}"),
        }))
    })
}
