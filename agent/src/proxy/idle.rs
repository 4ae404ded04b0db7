//! Idle timeouts where hyper has none: a request body that stops arriving, and a tunnel
//! (WebSocket) where nothing passes either way. Both are measured from the last byte, so a
//! large upload on a slow Wi-Fi or a chat that sends pings keeps going, while a connection
//! held open doing nothing gives its place back (see `limits`).

use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A request body with no byte for this long is cut (the client's fault: 400).
pub const BODY_IDLE: Duration = Duration::from_secs(60);
/// A tunnel with no byte either way for this long is closed (WebSocket clients ping far
/// more often: Etherpad's every 25 s).
pub const TUNNEL_IDLE: Duration = Duration::from_secs(300);

/// The body stopped arriving.
#[derive(Debug, thiserror::Error)]
#[error("no data from the client for {}s", .0.as_secs())]
pub struct BodyIdle(Duration);

/// `inner`, failing when no frame arrives for `idle`.
pub struct IdleBody<B> {
    inner: B,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<B> IdleBody<B> {
    pub fn new(inner: B, idle: Duration) -> IdleBody<B> {
        IdleBody {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = Instant::now() + this.idle;
                this.timer.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyIdle(this.idle))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A stream that notes when a byte last went through it.
struct Watched<S> {
    inner: S,
    base: Instant,
    last_ms: Arc<AtomicU64>,
}

impl<S> Watched<S> {
    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Copies both ways between `client` and `upstream` until one closes or nothing passes for
/// `idle`; returns whether it ended for being idle.
pub async fn tunnel<C, U>(client: C, mut upstream: U, idle: Duration) -> bool
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let last_ms = Arc::new(AtomicU64::new(0));
    let base = Instant::now();
    let mut client = Watched {
        inner: client,
        base,
        last_ms: last_ms.clone(),
    };
    let watch = async {
        loop {
            tokio::time::sleep(idle / 4).await;
            let quiet = base.elapsed().as_millis() as u64 - last_ms.load(Ordering::Relaxed);
            if quiet >= idle.as_millis() as u64 {
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => false,
        _ = watch => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_body_that_stops_arriving_fails_and_one_that_flows_does_not() {
        runtime().block_on(async {
            let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
            let frames = futures_util::stream::unfold(rx, |mut rx| async move {
                let data = rx.recv().await?;
                Some((Ok::<_, std::io::Error>(Frame::data(data)), rx))
            });
            let body = http_body_util::StreamBody::new(Box::pin(frames));
            let mut idle = IdleBody::new(body, Duration::from_millis(200));
            tx.send(bytes::Bytes::from_static(b"a")).await.unwrap();
            assert!(idle.frame().await.unwrap().is_ok());
            // Bytes every 100 ms keep it alive past the 200 ms…
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tx.send(bytes::Bytes::from_static(b"b")).await.unwrap();
                assert!(idle.frame().await.unwrap().is_ok());
            }
            // …silence ends it.
            let err = idle.frame().await.unwrap().unwrap_err();
            assert!(err.is::<BodyIdle>(), "{err}");
        });
    }

    #[test]
    fn an_idle_tunnel_closes_and_a_busy_one_does_not() {
        runtime().block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (client, mut visitor) = tokio::io::duplex(64);
            let (upstream, mut service) = tokio::io::duplex(64);
            let tunnel = tokio::spawn(tunnel(client, upstream, Duration::from_millis(300)));
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                visitor.write_all(b"ping").await.unwrap();
                let mut got = [0u8; 4];
                service.read_exact(&mut got).await.unwrap();
            }
            assert!(!tunnel.is_finished(), "busy for 600 ms, still open");
            assert!(tunnel.await.unwrap(), "closed for being idle");
        });
    }
}
