//! `panier agent`: the daemon.
//!
//! Start-up builds each component from what it needs, in dependency order, in [`run`]:
//! configuration → logging → data directory → store (or diagnostic mode) → throttles and
//! admins → status → HTTP routers → listeners (admin address, local socket) → `READY=1`.
//! There is no context object: each handle gets its dependencies as arguments.
//!
//! Under systemd it notifies `READY=1`, pings the watchdog while the store answers, and on
//! SIGTERM or SIGINT stops accepting, lets requests finish and exits within 10 seconds.

use crate::admins::Admins;
use crate::api::extract::LocalPeer;
use crate::audit::Audit;
use crate::auth::Throttle;
use crate::config::{AgentArgs, Config};
use crate::diagnostic;
use crate::firewall::{EngineLabels, Firewall, FirewallOptions, Port};
use crate::state::AppState;
use crate::status::Status;
use crate::store::{DB_FILE, Store};
use anyhow::{Context, bail};
use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::serve::IncomingStream;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
        UdsPeer { uid: stream.io().peer_cred().ok().map(|c| c.uid()) }
    }
}

/// Marks requests from the local socket with the peer's uid. The socket's mode (0660, group
/// `panier`) is the access control; the uid decides root-only actions.
async fn mark_local(ConnectInfo(peer): ConnectInfo<UdsPeer>, mut req: Request, next: Next) -> axum::response::Response {
    req.extensions_mut().insert(LocalPeer { uid: peer.uid.unwrap_or(u32::MAX) });
    next.run(req).await
}

/// What the daemon serves: the normal routers or the diagnostic one.
pub struct Routers {
    pub web: Router,
    pub socket: Router,
    /// Started by [`run`] once the listeners are up (`None` in diagnostic mode).
    pub firewall: Option<Firewall>,
}

/// Builds the components and routers over an open store (within a Tokio runtime: it starts
/// the session-expiry task). Tests call this too.
pub fn build(store: Store, config: &Config) -> anyhow::Result<(Routers, Option<crate::names::SetupCode>)> {
    let throttle = Throttle::default();
    let admins = Admins::new(store.clone(), throttle);
    let code = admins.ensure_setup_code(config.provisioned_code.as_ref()).context("preparing the setup code")?;
    let status = Status::normal(store.clone(), config.data_dir.clone(), config.provisioned_name.clone());
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
    let apps = build_apps(store.clone(), config)?;
    let firewall = firewall(store.clone(), config);
    // Until the services domain implements `ServiceHooks` on `Apps`, services are described
    // by plan files (see `backup::hooks`).
    let hooks = std::sync::Arc::new(crate::backup::hooks::PlanFiles::new(&config.data_dir, &config.engine));
    let backups = crate::backup::Backups::new(store.clone(), config.data_dir.clone(), hooks);
    backups.spawn_scheduler();
    let state = AppState { admins, audit: Audit::new(store), status, apps, backups, firewall: firewall.clone() };
    let mut routers = routers(state);
    routers.firewall = Some(firewall);
    Ok((routers, code))
}

/// The firewall over nft (or not applied with `--firewall off`); the admin port comes from the
/// listen address. Services' ports are what the engine publishes for labelled containers.
fn firewall(store: Store, config: &Config) -> Firewall {
    let backend: Option<std::sync::Arc<dyn crate::firewall::FirewallBackend>> =
        if config.firewall { Some(std::sync::Arc::new(crate::firewall::Nft::default())) } else { None };
    let options = FirewallOptions {
        admin_port: Port::new(config.listen.port()).unwrap_or(Port::new(443).expect("valid")),
        portal_port: Port::new(80).expect("valid"),
        revert_after: crate::firewall::REVERT_AFTER,
        detect_lan: crate::firewall::lan::detect,
    };
    Firewall::new(store, backend, std::sync::Arc::new(EngineLabels::new(&config.engine)), options)
}

/// The services domain: catalog, engine, jobs, apps. The daemon starts even when the engine
/// is down (the reconciler retries) or the catalog is unreadable (it is then empty and the
/// problem is logged). Inside a runtime, the reconciler's background tasks start here.
fn build_apps(store: Store, config: &Config) -> anyhow::Result<crate::apps::Apps> {
    let catalog = match crate::catalog::Catalog::load(&config.catalog_dir) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                log::error!("catalog: {e}");
            }
            crate::catalog::Catalog::default()
        }
    };
    let engine: std::sync::Arc<dyn crate::engine::Engine> =
        std::sync::Arc::new(crate::engine::docker::DockerEngine::new(&config.engine).context("setting up the container engine client")?);
    let jobs = crate::jobs::Jobs::new(store.clone());
    let apps = crate::apps::Apps::new(store, engine, jobs, std::sync::Arc::new(catalog), config.data_dir.clone()).context("preparing the services")?;
    if tokio::runtime::Handle::try_current().is_ok() {
        apps.start_background();
    }
    Ok(apps)
}

pub fn routers(state: AppState) -> Routers {
    let api = crate::api::router().with_state(state.clone());
    let banners = axum::middleware::from_fn_with_state(state.backups.clone(), crate::web::backup::with_alerts);
    let web = crate::web::router().with_state(state).merge(api.clone()).layer(banners);
    Routers { web: web.layer(DefaultBodyLimit::max(BODY_LIMIT)), socket: api.layer(DefaultBodyLimit::max(BODY_LIMIT)), firewall: None }
}

fn diagnostic_routers(diagnosis: diagnostic::Diagnosis, data_dir: &Path) -> Routers {
    let router = crate::web::diagnostic::router(Status::diagnostic(diagnosis, data_dir.to_owned()));
    Routers { web: router.clone(), socket: router, firewall: None }
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
            bail!("another panier agent is already running on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("listening on the socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| format!("setting the mode of {}", path.display()))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("panier") {
        nix::unistd::chown(path, None, Some(group.gid)).with_context(|| format!("giving {} to the panier group", path.display()))?;
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
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o750)).ok();

    let (routers, code, mode) = match open_state(&config)? {
        Ok(store) => {
            let (routers, code) = build(store, &config)?;
            (routers, code, "normal")
        }
        Err(diagnosis) => (diagnostic_routers(diagnosis, &config.data_dir), None, "diagnostic"),
    };

    if let Some(firewall) = &routers.firewall {
        firewall.start();
    }
    let tcp = TcpListener::bind(config.listen).await.with_context(|| format!("listening on {} for the admin UI", config.listen))?;
    let unix = bind_socket(&config.socket)?;
    let url = format!("http://{}/admin", tcp.local_addr().map(|a| a.to_string()).unwrap_or_default());

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let web = axum::serve(tcp, routers.web.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(stopped(stop_rx.clone()));
    let socket_router = routers.socket.layer(axum::middleware::from_fn(mark_local));
    let local = axum::serve(unix, socket_router.into_make_service_with_connect_info::<UdsPeer>()).with_graceful_shutdown(stopped(stop_rx.clone()));
    let servers = tokio::spawn(async move { tokio::try_join!(async { web.await }, async { local.await }) });

    log::info!("panier {} ready ({mode} mode): admin UI at {url}, local API at {}", crate::status::VERSION, config.socket.display());
    if let Some(code) = &code {
        log::warn!("setup code: {} (open {url} to set up the box)", code.display());
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
        Ok(Ok(Ok(_))) => log::info!("stopped cleanly"),
        Ok(Ok(Err(e))) => log::warn!("a listener failed while stopping: {e}"),
        Ok(Err(e)) => log::warn!("the servers task failed: {e}"),
        Err(_) => log::warn!("requests still running after {}s; stopping anyway", STOP_GRACE.as_secs()),
    }
    let _ = std::fs::remove_file(&config.socket);
    Ok(())
}
