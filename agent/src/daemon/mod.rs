//! `panier agent`: the daemon, in three files. This one is the wiring: [`build`] makes each
//! component from what it needs, in dependency order: admins → status → jobs (interrupted
//! ones closed first) → services (catalog, engine, packs) → OS updates → install mode →
//! backups → proxy → reach → firewall → TLS authority and mDNS → health → HTTP routers.
//! There is no context object: each handle gets its dependencies as arguments.
//!
//! `listen` opens the listeners and runs the daemon's life ([`run`]): with an HTTP entry
//! configured (`http_listen`, the box's normal case) the agent is the box's single web entry:
//! `listen` is HTTPS (admin UI and services by name), the HTTP entry serves the public portal,
//! the CA download and services by name, and each service has a fixed port (`proxy`). Without
//! one, `listen` serves the admin UI in plain HTTP, as in development and the foundation's
//! tests. The local socket serves the API in both cases. Under systemd it notifies `READY=1`,
//! pings the watchdog while the data directory answers, and on SIGTERM or SIGINT stops
//! accepting, lets requests finish and exits within 10 seconds.
//!
//! `tasks` holds the daemon's own background tasks: session expiry and the wake-ups that
//! carry a change from one domain to the next.

mod listen;
mod tasks;

pub use listen::run;

use crate::access::Access;
use crate::admins::Admins;
use crate::audit::Audit;
use crate::auth::Throttle;
use crate::config::Config;
use crate::diagnostic;
use crate::firewall::{EngineLabels, Firewall, FirewallOptions, Port, ProxyPorts};
use crate::mdns::Mdns;
use crate::proxy::{ExtraRoutes, Proxy, RouteSource};
use crate::state::AppState;
use crate::status::Status;
use crate::store::{DB_FILE, Store};
use crate::tls::Tls;
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Request bodies above this are refused with 413 (the API and forms never need more).
pub const BODY_LIMIT: usize = 1 << 20;

/// What the daemon serves: the normal routers or the diagnostic one.
pub struct Routers {
    pub web: Router,
    pub socket: Router,
    /// Started by [`run`] once the listeners are up (`None` in diagnostic mode).
    pub firewall: Option<Firewall>,
    /// The route table and TLS material, when the agent is the box's web entry.
    pub reach: Option<Reach>,
}

/// The handles behind the web entries.
pub struct Reach {
    pub proxy: Proxy,
    pub tls: Tls,
    /// Public names and their certificate.
    pub public: crate::reach::Reach,
    pub mdns: Option<Mdns>,
    pub lan_interface: Option<String>,
}

/// The route sources: the installed services' web entries and the configuration file's routes.
fn route_sources(config: &Config, apps: &crate::apps::Apps) -> Vec<Arc<dyn RouteSource>> {
    vec![
        Arc::new(AppRoutes(apps.clone())),
        Arc::new(ExtraRoutes(config.extra_routes.clone())),
    ]
}

/// The proxy's view of the services: each running service with a web entry, by its id.
struct AppRoutes(crate::apps::Apps);

impl RouteSource for AppRoutes {
    fn routes(&self) -> Vec<crate::proxy::Route> {
        let routes = self.0.web_routes().into_iter();
        routes
            .map(|w| crate::proxy::Route {
                name: w.app.to_string(),
                title: w.name,
                description: w.description,
                upstream: w.upstream,
                max_body_bytes: w.max_body_bytes,
                websocket: w.websocket,
                fixed_port_refusal: w.fixed_port_refusal,
                address_kept: w.address_kept,
            })
            .collect()
    }
}

/// Builds the components and routers over an open store (within a Tokio runtime: it starts
/// the session-expiry task). Tests call this too.
pub fn build(
    store: Store,
    config: &Config,
) -> anyhow::Result<(Routers, Option<crate::names::SetupCode>)> {
    build_with(store, config, Arc::new(crate::install::HwMachine::new()))
}

/// [`build`] with the machine install mode works on (tests give a fake one).
pub fn build_with(
    store: Store,
    config: &Config,
    machine: Arc<dyn crate::install::Machine>,
) -> anyhow::Result<(Routers, Option<crate::names::SetupCode>)> {
    let throttle = Throttle::default();
    let admins = Admins::new(store.clone(), throttle);
    let code = admins
        .ensure_setup_code(config.provisioned_code.as_ref())
        .context("preparing the setup code")?;
    let status = Status::normal(
        store.clone(),
        config.data_dir.clone(),
        config.provisioned_name.clone(),
    );
    tasks::expire_sessions(admins.clone());
    // Jobs are shared: services' jobs, and the box's own (install mode).
    let jobs = crate::jobs::Jobs::new(store.clone());
    // Before anything can start a job: a job begun first would be taken for one a crash left.
    let interrupted = jobs
        .recover()
        .context("closing the jobs a previous run left running")?;
    if interrupted > 0 {
        log::warn!(
            "{interrupted} job(s) were running when the agent last stopped: marked interrupted"
        );
    }
    let apps = build_apps(store.clone(), config, jobs.clone())?;
    let packs = apps.packs().expect("set by build_apps").clone();
    let updates = crate::update::Updates::new(
        store.clone(),
        jobs.clone(),
        Arc::new(crate::update::RaucSlots::new(Path::new(
            crate::update::os::FAILED_BOOTS_DIR,
        ))),
        config.update.clone(),
    );
    if tokio::runtime::Handle::try_current().is_ok() {
        updates.start_background();
    }
    let install = crate::install::Install::new(store.clone(), jobs, machine, config.hw_dir.clone());
    install.set_packs(packs.clone());
    // Backups see services through `ServiceHooks`; services' update and data-deletion jobs
    // take safety snapshots through `SafetyBackups` (two narrow traits, one each way).
    let backups = crate::backup::Backups::new(
        store.clone(),
        config.data_dir.clone(),
        Arc::new(apps.clone()),
    );
    apps.set_safety_backups(Arc::new(backups.clone()));
    backups.spawn_scheduler();
    let proxy = Proxy::new(
        store.clone(),
        route_sources(config, &apps),
        config.service_port_base,
        config.provisioned_name.as_ref().map(|n| n.to_string()),
    );
    // A service's route appears as soon as its container has an address (not at the next
    // 5 s round of the proxy's refresh loop).
    let woken = proxy.clone();
    tasks::wake_on_change(apps.changes(), move || woken.wake());
    // Public names: services' addresses and the proxy's routes follow the reach settings.
    let public = crate::reach::Reach::new(store.clone(), &config.data_dir);
    apps.set_public_names(Arc::new(public.clone()));
    proxy.set_public(Arc::new(public.clone()));
    let (woken_apps, woken_proxy) = (apps.clone(), proxy.clone());
    tasks::wake_on_change(public.changes(), move || {
        woken_apps.wake();
        woken_proxy.wake();
    });
    let firewall = firewall(store.clone(), config, &proxy);
    proxy.set_outside(Arc::new(RelayOutside {
        reach: public.clone(),
        firewall: firewall.clone(),
    }));
    let woken_firewall = firewall.clone();
    tasks::wake_on_change(public.changes(), move || woken_firewall.wake());
    let reach = match config.http_listen {
        Some(_) => {
            let tls = Tls::load_or_create(&config.data_dir)
                .context("preparing the box's certificate authority")?;
            let lan_interface = config
                .lan_interface
                .clone()
                .or_else(crate::mdns::lan::default_interface);
            let mdns = match (&lan_interface, config.mdns) {
                (Some(interface), true) => Mdns::start(interface, store.clone(), proxy.clone())
                    .map_err(|e| log::error!("{e}; names will not be announced"))
                    .ok(),
                (None, true) => {
                    log::warn!("no LAN interface found; names will not be announced with mDNS");
                    None
                }
                (_, false) => None,
            };
            Some(Reach {
                proxy: proxy.clone(),
                tls,
                public: public.clone(),
                mdns,
                lan_interface,
            })
        }
        None => None,
    };
    let notifier = crate::notify::Notifier::new(store.clone());
    let health = crate::health::Health::new(
        store.clone(),
        config.data_dir.clone(),
        apps.clone(),
        updates.clone(),
        reach.as_ref().map(|r| r.tls.clone()),
        notifier.clone(),
        true,
    );
    status.set_health(health.clone());
    if tokio::runtime::Handle::try_current().is_ok() {
        health.start_background();
    }
    let access = Access::new(
        proxy,
        reach.as_ref().map(|r| r.tls.clone()),
        reach
            .as_ref()
            .and_then(|r| r.mdns.as_ref().map(|m| m.interface().to_owned())),
    );
    let state = AppState {
        admins,
        audit: Audit::new(store),
        status,
        apps,
        backups,
        access,
        firewall: firewall.clone(),
        install,
        packs,
        updates,
        health,
        notifier,
        reach: public,
    };
    let mut routers = routers(state);
    routers.firewall = Some(firewall);
    routers.reach = reach;
    Ok((routers, code))
}

/// The firewall over nft (or not applied with `--firewall off`); the admin port comes from the
/// listen address, the portal port from the HTTP entry's (80 when there is none). Services'
/// ports are what the engine publishes for labelled containers, plus each one's fixed port on
/// the proxy when the box is its web entry; the firewall re-reads them as soon as the
/// proxy's table changes.
fn firewall(store: Store, config: &Config, proxy: &Proxy) -> Firewall {
    let backend: Option<std::sync::Arc<dyn crate::firewall::FirewallBackend>> = if config.firewall {
        Some(std::sync::Arc::new(crate::firewall::Nft::default()))
    } else {
        None
    };
    let options = FirewallOptions {
        admin_port: Port::new(config.listen.port()).unwrap_or(Port::new(443).expect("valid")),
        portal_port: config
            .http_listen
            .and_then(|a| Port::new(a.port()).ok())
            .unwrap_or(Port::new(80).expect("valid")),
        revert_after: config.firewall_confirm_within,
        detect_lan: crate::firewall::lan::detect,
    };
    let fixed: std::sync::Arc<dyn ProxyPorts> = match config.http_listen {
        Some(_) => std::sync::Arc::new(ProxyFixedPorts(proxy.clone())),
        None => std::sync::Arc::new(crate::firewall::NoServices),
    };
    if config.provisioned_ssh {
        crate::firewall::provisioned::open_ssh_once(&store);
    }
    let firewall = Firewall::new(
        store,
        backend,
        std::sync::Arc::new(EngineLabels::new(&config.engine)),
        fixed,
        options,
    );
    if config.http_listen.is_some() {
        let fw = firewall.clone();
        tasks::wake_on_change(proxy.changes(), move || fw.wake());
    }
    firewall
}

/// The proxy's view of the outside: connections to the relay's tunnel address come from
/// outside; a service is open to them when its exposure is `outside`.
struct RelayOutside {
    reach: crate::reach::Reach,
    firewall: Firewall,
}

impl crate::proxy::OutsideAccess for RelayOutside {
    fn is_outside(&self, local: SocketAddr, _peer: SocketAddr) -> bool {
        let local = match local.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(std::net::IpAddr::V4)
                .unwrap_or(local.ip()),
            v4 => v4,
        };
        self.reach.relay_ip() == Some(local)
    }

    fn open_outside(&self, name: &str) -> bool {
        self.firewall
            .exposure_of(name)
            .is_ok_and(|e| e == crate::firewall::Exposure::Outside)
    }
}

/// The firewall's view of the proxy: each service's fixed port, by the service's id.
struct ProxyFixedPorts(Proxy);

impl ProxyPorts for ProxyFixedPorts {
    fn proxy_ports(&self) -> Vec<(String, Port)> {
        self.0
            .table()
            .routes
            .iter()
            .filter_map(|p| Some((p.route.name.clone(), Port::new(p.port?).ok()?)))
            .collect()
    }
}

/// The services domain: catalog, engine, jobs, apps. The daemon starts even when the engine
/// is down (the reconciler retries) or the catalog is unreadable (it is then empty and the
/// problem is logged). Inside a runtime, the reconciler's background tasks start here.
fn build_apps(
    store: Store,
    config: &Config,
    jobs: crate::jobs::Jobs,
) -> anyhow::Result<crate::apps::Apps> {
    let catalog = match crate::catalog::Catalog::load(&config.catalog_dir) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                log::error!("catalog: {e}");
            }
            crate::catalog::Catalog::default()
        }
    };
    let engine: std::sync::Arc<dyn crate::engine::Engine> = std::sync::Arc::new(
        crate::engine::docker::DockerEngine::new(&config.engine)
            .context("setting up the container engine client")?,
    );
    let apps_store = store.clone();
    let apps = crate::apps::Apps::new(
        store,
        engine.clone(),
        jobs,
        std::sync::Arc::new(catalog),
        config.data_dir.clone(),
    )
    .context("preparing the services")?;
    let packs = crate::pack::Packs::new(
        apps_store,
        engine,
        crate::signing::keyring::IMAGE_KEYS_DIR.into(),
        crate::signing::RELEASE_KEY.into(),
        config.engine_config.clone(),
    );
    if let Err(e) = packs.apply_engine_config() {
        log::error!("{e}");
    }
    apps.set_packs(packs);
    if tokio::runtime::Handle::try_current().is_ok() {
        apps.start_background();
        apps.start_preload();
    }
    Ok(apps)
}

pub fn routers(state: AppState) -> Routers {
    let api = crate::api::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::localize::localize,
        ))
        .with_state(state.clone());
    let banners = axum::middleware::from_fn_with_state(
        state.backups.clone(),
        crate::web::backup::with_alerts,
    );
    let web = crate::web::router()
        .with_state(state)
        .merge(api.clone())
        .layer(banners);
    Routers {
        web: web.layer(DefaultBodyLimit::max(BODY_LIMIT)),
        socket: api.layer(DefaultBodyLimit::max(BODY_LIMIT)),
        firewall: None,
        reach: None,
    }
}

pub(super) fn diagnostic_routers(diagnosis: diagnostic::Diagnosis, data_dir: &Path) -> Routers {
    let router = crate::web::diagnostic::router(Status::diagnostic(diagnosis, data_dir.to_owned()));
    Routers {
        web: router.clone(),
        socket: router,
        firewall: None,
        reach: None,
    }
}

/// Opens the store, or enters diagnostic mode (keeping the database aside) if it cannot.
pub(super) fn open_state(config: &Config) -> anyhow::Result<Result<Store, diagnostic::Diagnosis>> {
    if let Some(d) = diagnostic::recorded(&config.data_dir)? {
        log::error!("diagnostic mode (recorded earlier): {}", d.detail);
        return Ok(Err(d));
    }
    match Store::open(&config.data_dir.join(DB_FILE)) {
        Ok(store) => Ok(Ok(store)),
        Err(e) => {
            log::error!("{e}; moving the database aside and starting in diagnostic mode");
            let d = diagnostic::keep_aside(&config.data_dir, &e)?;
            Ok(Err(d))
        }
    }
}
