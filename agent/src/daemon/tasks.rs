//! The daemon's own background tasks: the session expiry, and the wake-ups that carry a
//! change from one domain to the next (a service's address → the proxy's table, the reach
//! settings → services and proxy, the relay → the firewall, the proxy's routes → the
//! firewall). Each domain's own loops (reconciler, scheduler, health, refresh) are started
//! by that domain; these only connect them.

use crate::admins::Admins;
use std::time::Duration;
use tokio::sync::watch;

/// How often expired sessions are deleted.
const EXPIRE_EVERY: Duration = Duration::from_secs(300);

/// Deletes expired sessions every five minutes.
pub fn expire_sessions(admins: Admins) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRE_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = admins.expire_sessions() {
                log::warn!("{e}");
            }
        }
    });
}

/// Calls `wake` at each change `changes` sees, for as long as its sender lives.
pub fn wake_on_change<T: Send + Sync + 'static>(
    mut changes: watch::Receiver<T>,
    wake: impl Fn() + Send + 'static,
) {
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            wake();
        }
    });
}

/// Pings systemd's watchdog while the data directory answers (a hung disk should get the
/// agent restarted). `None` when the unit has no watchdog.
pub fn watchdog(data_dir: std::path::PathBuf) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period / 2);
        loop {
            tick.tick().await;
            if tokio::fs::metadata(&data_dir).await.is_ok() {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }
    }))
}
