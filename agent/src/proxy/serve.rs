//! The accept loop of a web entry: TCP, optionally TLS, then HTTP/1.1 with upgrades.
//!
//! Each connection is first admitted by the shared caps (`limits`: in total, per source, a
//! reserve for the HTTPS entry); one refused is closed at once, before any TLS or HTTP work.
//! Timeouts: 10 s for the TLS handshake, 30 s for a request's headers and between requests
//! on a kept-alive connection (hyper's header timer runs while it waits for a request: slow-
//! loris clients and idle connections are dropped), 60 s without a byte of a request body
//! (`idle`). On stop, listeners stop accepting, idle connections close and busy ones
//! finish their request; [`serve`] returns when the last one is gone.

use super::Entry;
use super::idle::{BODY_IDLE, IdleBody};
use super::limits::Refusal;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `entry` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    entry: Arc<Entry>,
    mut stop: watch::Receiver<bool>,
) {
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut refused = Refused::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    log::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        };
        let permit = match entry.limits.admit(peer.ip(), entry.class) {
            Ok(p) => p,
            Err(why) => {
                refused.note(peer, why);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let (entry, stop, alive, tls) =
            (entry.clone(), stop.clone(), alive_tx.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, peer, local, entry, stop).await,
                        Ok(Err(e)) => log::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => log::debug!("TLS handshake with {peer} timed out"),
                    }
                }
                None => connection(stream, peer, local, entry, stop).await,
            }
            drop(alive);
        });
    }
    drop(listener);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
}

/// Connections refused by the caps, logged at most once a minute per listener (a flood must
/// not flood the journal too).
#[derive(Default)]
struct Refused {
    since_log: u64,
    last_log: Option<std::time::Instant>,
}

impl Refused {
    fn note(&mut self, peer: SocketAddr, why: Refusal) {
        self.since_log += 1;
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            log::warn!(
                "refused {} connection(s) in the last minute, the last from {peer}: {why}",
                self.since_log
            );
            self.since_log = 0;
            self.last_log = Some(std::time::Instant::now());
        }
    }
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    entry: Arc<Entry>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let entry = entry.clone();
        async move {
            let req = req.map(|b| Body::new(IdleBody::new(b, BODY_IDLE)));
            Ok::<_, Infallible>(entry.handle(req, peer, local).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                log::debug!("connection from {peer} ended: {e}");
            }
        }
        _ = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
