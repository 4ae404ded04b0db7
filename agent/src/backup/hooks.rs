//! The narrow boundary between backups and services: what to save for each service and how
//! to quiesce it. The services domain (`apps`) implements [`ServiceHooks`]; the backup runner
//! knows nothing else about apps or containers (`apps/backup.rs` has the implementation, and
//! the other direction: safety snapshots before updates and data deletions).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// A command run inside one of a service's containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCmd {
    pub container: String,
    pub argv: Vec<String>,
}

/// How a service is made consistent for its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Stopped for its snapshot, and always restarted afterwards, even when the backup fails.
    Cold,
    /// Stays up; `pre` (e.g. a database dump into a volume) runs before, `post` after.
    Hot {
        pre: Vec<ExecCmd>,
        post: Vec<ExecCmd>,
    },
}

/// What to save for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlan {
    pub app: String,
    /// Host directories, under `<data>/apps/<app>/volumes/`.
    pub volumes: Vec<PathBuf>,
    pub mode: Mode,
}

pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// What the backup runner needs from the services domain.
pub trait ServiceHooks: Send + Sync {
    /// Every installed service's plan.
    fn plans(&self) -> HookFuture<'_, Vec<BackupPlan>>;
    /// Stops `app` for a cold snapshot or a restore (`purpose`: `backup` or `restore`) and
    /// keeps it stopped until [`ServiceHooks::start`].
    fn stop<'a>(&'a self, app: &'a str, purpose: &'static str) -> HookFuture<'a, ()>;
    /// Brings `app` back to its wanted state (running, unless an admin stopped it).
    fn start<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()>;
    /// Once `app` is back up after a restore, waits until it is ready and runs its manifest's
    /// restore commands (loading a database's dump into the running database), in order,
    /// failing on the first non-zero exit.
    fn after_restore<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()>;
    /// Runs `argv` in `container` of `app`, failing on a non-zero exit.
    fn exec<'a>(
        &'a self,
        app: &'a str,
        container: &'a str,
        argv: &'a [String],
    ) -> HookFuture<'a, ()>;
}
