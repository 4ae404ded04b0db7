//! The daemon's listeners and its life: the local socket (peer uid, mode 0660, group
//! `panier`), the admin address (plain HTTP in development, or HTTPS with the plain-HTTP
//! portal when the agent is the box's web entry), `READY=1`, the watchdog, and the stop on
//! SIGTERM or SIGINT within [`STOP_GRACE`].

use super::{Reach, build, diagnostic_routers, open_state};
use crate::config::{AgentArgs, Config};
use crate::http::extract::LocalPeer;
use crate::proxy::{Entry, FixedPorts, Forwarder, Refresh};
use crate::tls::Tls;
use anyhow::{Context, bail};
use axum::Router;
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::serve::IncomingStream;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

/// How long requests may run on after a stop signal.
pub const STOP_GRACE: Duration = Duration::from_secs(9);

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
    let watchdog = super::tasks::watchdog(config.data_dir.clone());

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
