//! `panier agent`: the daemon.
//!
//! Start-up builds each component from what it needs, in dependency order, in [`run`]:
//! configuration → logging → data directory → store (or diagnostic mode) → throttles and
//! admins → status → jobs → services, backups, install mode → route table, TLS authority,
//! mDNS → HTTP routers → listeners → `READY=1`.
//!
//! Listeners: with an HTTP entry configured (`http_listen`, the box's normal case) the agent is
//! the box's single web entry: `listen` is HTTPS (admin UI and services by name), the HTTP
//! entry serves the public portal, the CA download and services by name, and each service
//! has a fixed port (`proxy`). Without one, `listen` serves the admin UI in plain HTTP, as in
//! development and the foundation's tests. The local socket serves the API in both cases.
//! There is no context object: each handle gets its dependencies as arguments.
//!
//! Under systemd it notifies `READY=1`, pings the watchdog while the store answers, and on
//! SIGTERM or SIGINT stops accepting, lets requests finish and exits within 10 seconds.

use crate::access::Access;
use crate::admins::Admins;
use crate::audit::Audit;
use crate::auth::Throttle;
use crate::config::{AgentArgs, Config};
use crate::diagnostic;
use crate::firewall::{EngineLabels, Firewall, FirewallOptions, Port, ProxyPorts};
use crate::http::extract::LocalPeer;
use crate::mdns::Mdns;
use crate::proxy::{Entry, ExtraRoutes, FixedPorts, Forwarder, Proxy, Refresh, RouteSource};
use crate::state::AppState;
use crate::status::Status;
use crate::store::{DB_FILE, Store};
use crate::tls::Tls;
use anyhow::{Context, bail};
use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::serve::IncomingStream;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

/// Request bodies above this are refused with 413 (the API and forms never need more).
pub const BODY_LIMIT: usize = 1 << 20;
const STOP_GRACE: Duration = Duration::from_secs(9);

/// The peer of a local-socket connection.
#[derive(Clone, Copy, Debug)]
struct UdsPeer {
    uid: Option<u32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for UdsPeer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        UdsPeer {
            uid: stream.io().peer_cred().ok().map(|c| c.uid()),
        }
    }
}

/// Marks requests from the local socket with the peer's uid. The socket's mode (0660, group
/// `panier`) is the access control; the uid decides root-only actions.
async fn mark_local(
    ConnectInfo(peer): ConnectInfo<UdsPeer>,
    mut req: Request,
    next: Next,
) -> axum::response::Response {
    req.extensions_mut().insert(LocalPeer {
        uid: peer.uid.unwrap_or(u32::MAX),
    });
    next.run(req).await
}

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
    let expiry = admins.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            if let Err(e) = expiry.expire_sessions() {
                log::warn!("{e}");
            }
        }
    });
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
    let (mut app_changes, woken) = (apps.changes(), proxy.clone());
    tokio::spawn(async move {
        while app_changes.changed().await.is_ok() {
            woken.wake();
        }
    });
    // Public names: services' addresses and the proxy's routes follow the reach settings.
    let public = crate::reach::Reach::new(store.clone(), &config.data_dir);
    apps.set_public_names(Arc::new(public.clone()));
    proxy.set_public(Arc::new(public.clone()));
    let (mut reach_changes, woken_apps, woken_proxy) =
        (public.changes(), apps.clone(), proxy.clone());
    tokio::spawn(async move {
        while reach_changes.changed().await.is_ok() {
            woken_apps.wake();
            woken_proxy.wake();
        }
    });
    let firewall = firewall(store.clone(), config, &proxy);
    proxy.set_outside(Arc::new(RelayOutside {
        reach: public.clone(),
        firewall: firewall.clone(),
    }));
    let (mut relay_changes, woken_firewall) = (public.changes(), firewall.clone());
    tokio::spawn(async move {
        while relay_changes.changed().await.is_ok() {
            woken_firewall.wake();
        }
    });
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

/// SSH keys came with headless provisioning: open SSH to the LAN, once (the setting
/// `provisioned_ssh` remembers it, so an admin who closes it later is not overruled).
fn open_provisioned_ssh(store: &Store) {
    let opened = (|| -> Result<bool, crate::store::StoreError> {
        if store.setting("provisioned_ssh")?.is_some() {
            return Ok(false);
        }
        let mut policy = store.firewall_policy()?;
        policy.ssh_enabled = true;
        let audit = crate::store::NewAudit {
            actor: "provisioning".into(),
            action: "firewall_ssh",
            target: "on".into(),
            result: "ok",
            detail: "SSH keys were provisioned".into(),
        };
        store.save_firewall_policy(&policy, None, &audit)?;
        store.set_setting("provisioned_ssh", "opened")?;
        Ok(true)
    })();
    match opened {
        Ok(true) => log::info!("SSH keys were provisioned: SSH is open to the local network"),
        Ok(false) => {}
        Err(e) => log::error!("cannot open SSH for the provisioned keys: {e}"),
    }
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
        open_provisioned_ssh(&store);
    }
    let firewall = Firewall::new(
        store,
        backend,
        std::sync::Arc::new(EngineLabels::new(&config.engine)),
        fixed,
        options,
    );
    if config.http_listen.is_some() {
        let (mut changes, fw) = (proxy.changes(), firewall.clone());
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                fw.wake();
            }
        });
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

fn diagnostic_routers(diagnosis: diagnostic::Diagnosis, data_dir: &Path) -> Routers {
    let router = crate::web::diagnostic::router(Status::diagnostic(diagnosis, data_dir.to_owned()));
    Routers {
        web: router.clone(),
        socket: router,
        firewall: None,
        reach: None,
    }
}

/// Opens the store, or enters diagnostic mode (keeping the database aside) if it cannot.
fn open_state(config: &Config) -> anyhow::Result<Result<Store, diagnostic::Diagnosis>> {
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

fn bind_socket(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another panier agent is already running on {}",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("listening on the socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("panier") {
        nix::unistd::chown(path, None, Some(group.gid))
            .with_context(|| format!("giving {} to the panier group", path.display()))?;
    }
    Ok(listener)
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM received, stopping"),
        _ = int.recv() => log::info!("SIGINT received, stopping"),
    }
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o750)).ok();

    let (routers, code, mode) = match open_state(&config)? {
        Ok(store) => {
            let (routers, code) = build(store, &config)?;
            (routers, code, "normal")
        }
        Err(diagnosis) => (
            diagnostic_routers(diagnosis, &config.data_dir),
            None,
            "diagnostic",
        ),
    };

    if let Some(firewall) = &routers.firewall {
        firewall.start();
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let unix = bind_socket(&config.socket)?;
    let socket_router = routers.socket.layer(axum::middleware::from_fn(mark_local));
    let local = axum::serve(
        unix,
        socket_router.into_make_service_with_connect_info::<UdsPeer>(),
    )
    .with_graceful_shutdown(stopped(stop_rx.clone()));
    let tcp = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {} for the admin UI", config.listen))?;
    let admin_addr = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (url, servers) = match config.http_listen {
        None => {
            let web = axum::serve(
                tcp,
                routers
                    .web
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(stop_rx.clone()));
            let servers = tokio::spawn(async move {
                tokio::try_join!(async { web.await }, async { local.await }).map(|_| ())
            });
            (format!("http://{admin_addr}/admin"), servers)
        }
        Some(http_addr) => {
            let http = TcpListener::bind(http_addr)
                .await
                .with_context(|| format!("listening on {http_addr} for the portal"))?;
            let http_port = http
                .local_addr()
                .map(|a| a.port())
                .unwrap_or(http_addr.port());
            let https_port = tcp
                .local_addr()
                .map(|a| a.port())
                .unwrap_or(config.listen.port());
            let entries = web_entries(
                &config,
                routers.web,
                routers.reach,
                http_port,
                https_port,
                stop_rx.clone(),
            )?;
            let https = tokio::spawn(crate::proxy::serve(
                tcp,
                Some(entries.acceptor),
                entries.https,
                stop_rx.clone(),
            ));
            let plain = tokio::spawn(crate::proxy::serve(
                http,
                None,
                entries.http,
                stop_rx.clone(),
            ));
            let servers = tokio::spawn(async move {
                let (a, b, c) = tokio::join!(https, plain, local);
                a.map_err(std::io::Error::other)?;
                b.map_err(std::io::Error::other)?;
                c
            });
            log::info!("portal at http://{http_addr}/");
            (format!("https://{admin_addr}/admin"), servers)
        }
    };

    log::info!(
        "panier {} ready ({mode} mode): admin UI at {url}, local API at {}",
        crate::status::VERSION,
        config.socket.display()
    );
    if let Some(code) = &code {
        log::warn!(
            "setup code: {} (open {url} to set up the box)",
            code.display()
        );
        println!("Setup code: {}", code.display());
    }
    println!("Admin UI: {url}");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = sd_notify::watchdog_enabled().map(|period| {
        let data_dir = config.data_dir.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                // Only ping while the data directory answers: a hung disk should get us restarted.
                if tokio::fs::metadata(&data_dir).await.is_ok() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        })
    });

    stop_signal().await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    if let Some(w) = watchdog {
        w.abort();
    }
    match tokio::time::timeout(STOP_GRACE, servers).await {
        Ok(Ok(Ok(()))) => log::info!("stopped cleanly"),
        Ok(Ok(Err(e))) => log::warn!("a listener failed while stopping: {e}"),
        Ok(Err(e)) => log::warn!("the servers task failed: {e}"),
        Err(_) => log::warn!(
            "requests still running after {}s; stopping anyway",
            STOP_GRACE.as_secs()
        ),
    }
    let _ = std::fs::remove_file(&config.socket);
    Ok(())
}

struct WebEntries {
    acceptor: tokio_rustls::TlsAcceptor,
    https: Arc<Entry>,
    http: Arc<Entry>,
}

/// The HTTPS and HTTP entries, and the refresh loop that keeps the route table, the
/// certificate, the mDNS announcements and the fixed ports up to date.
fn web_entries(
    config: &Config,
    admin: Router,
    reach: Option<Reach>,
    http_port: u16,
    https_port: u16,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<WebEntries> {
    let forwarder = Forwarder::default();
    let nofile = crate::proxy::limits::raise_nofile();
    let limits = crate::proxy::limits::Limits::for_nofile(nofile);
    let (_, total, per_source) = limits.figures();
    log::info!(
        "web entries: {total} connections at most ({per_source} per source), for {nofile} file descriptors"
    );
    let (tls, proxy, portal) = match reach {
        Some(reach) => {
            let fixed_bind = config
                .http_listen
                .map(|a| a.ip())
                .unwrap_or(config.listen.ip());
            let refresh = Refresh {
                proxy: reach.proxy.clone(),
                tls: Some(reach.tls.clone()),
                mdns: reach.mdns,
                fixed: FixedPorts::new(
                    fixed_bind,
                    forwarder.clone(),
                    limits.clone(),
                    reach.proxy.clone(),
                    stop.clone(),
                ),
                lan_interface: reach.lan_interface.clone(),
                listen: [Some(config.listen), config.http_listen]
                    .into_iter()
                    .flatten()
                    .collect(),
                http_port: Some(http_port),
                https_port: Some(https_port),
            };
            // The first round runs before the listeners open, so the first handshake has a
            // certificate and the first request a table.
            refresh.once(true);
            tokio::spawn(crate::proxy::run_refresh(refresh, stop.clone()));
            let issuer = crate::reach::acme::Issuer {
                reach: reach.public.clone(),
                proxy: reach.proxy.clone(),
                tls: reach.tls.clone(),
                root: config.acme_root.clone(),
            };
            tokio::spawn(issuer.run(stop.clone()));
            tokio::spawn(crate::reach::relay::run(reach.public.clone(), stop.clone()));
            let portal = crate::portal::router(crate::portal::Portal::new(
                reach.proxy.clone(),
                reach.tls.clone(),
                reach.lan_interface,
                https_port,
            ));
            (reach.tls, Some(reach.proxy), portal)
        }
        None => {
            // Diagnostic mode: no store, so no routes; the admin UI still gets a certificate.
            let tls = Tls::load_or_create(&config.data_dir)
                .context("preparing the box's certificate authority")?;
            let table = crate::proxy::Table::new("panier", &Default::default(), vec![]);
            tls.ensure_leaf(&crate::proxy::leaf_names(&table, &[]))
                .context("issuing the server certificate")?;
            (tls, None, crate::portal::diagnostic_router(https_port))
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config().context("configuring TLS")?);
    let https = Entry {
        proxy: proxy.clone(),
        forwarder: forwarder.clone(),
        https: true,
        fixed: None,
        box_router: Some(admin),
        limits: limits.clone(),
        class: crate::proxy::limits::Class::Admin,
    };
    let http = Entry {
        proxy,
        forwarder,
        https: false,
        fixed: None,
        box_router: Some(portal),
        limits,
        class: crate::proxy::limits::Class::Public,
    };
    Ok(WebEntries {
        acceptor,
        https: Arc::new(https),
        http: Arc::new(http),
    })
}
