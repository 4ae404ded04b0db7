//! The services' side of backups, both ways.
//!
//! - `Apps` implements [`ServiceHooks`], the backup runner's only view of services: each
//!   installed service's plan comes from its stored manifest's `[backup]` spec (volumes under
//!   `<data>/apps/<app>/volumes/<vol>`); `stop` holds a job named after its purpose (`backup`,
//!   `restore`) on the service, so the reconciler and other jobs leave it stopped until
//!   `start`, which converges it back to its wanted state and ends the job; `exec` runs a
//!   command in one of its containers through the engine API and fails on a non-zero exit,
//!   with the command's output.
//! - [`SafetyBackups`] is what update and data-deletion jobs need from backups: a snapshot of
//!   one service's volumes taken while the job holds it stopped, and putting that snapshot
//!   back. The daemon hands the backups handle over with [`Apps::set_safety_backups`]; without
//!   it (or without a backup target) jobs go on without a safety snapshot.
//!
//! Limits: a service wanted stopped is saved cold whatever its spec says (no command can run
//! in a stopped container, and its files are at rest). A reconciler pass already past its
//! "is a job running?" check when a backup stops the service may still start a container that
//! had died at that very moment; the next pass leaves it alone.

use super::{AppError, Apps, spec};
use crate::backup::hooks::{BackupPlan, ExecCmd, HookFuture, Mode, ServiceHooks};
use crate::catalog::AppId;
use crate::catalog::manifest::{BackupCommand, BackupMode, Manifest};
use crate::jobs::Job;
use crate::store::Phase;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A safety snapshot: where it is and its id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SafetyPoint {
    pub target: String,
    pub snapshot: String,
}

/// What service jobs need from backups.
pub trait SafetyBackups: Send + Sync {
    /// Whether there is somewhere to save to (a backup target).
    fn enabled(&self) -> bool;
    /// Saves `volumes` of `app` as they are (the caller holds the service stopped). `None`
    /// when there is nowhere to save to (no backup target) or nothing to save.
    fn snapshot<'a>(
        &'a self,
        app: &'a str,
        volumes: Vec<PathBuf>,
    ) -> HookFuture<'a, Option<SafetyPoint>>;
    /// Puts the volumes saved in `point` back in place (the service still stopped).
    fn restore<'a>(&'a self, app: &'a str, point: &'a SafetyPoint) -> HookFuture<'a, ()>;
}

/// The longest command output kept in an error message (its end is kept).
const OUTPUT_KEPT: usize = 2000;

impl Apps {
    /// Hands over the backups handle for safety snapshots (once, at start-up).
    pub fn set_safety_backups(&self, safety: Arc<dyn SafetyBackups>) {
        let _ = self.inner.safety.set(safety);
    }

    /// What to back up for each installed service with a backup spec.
    pub fn backup_plans(&self) -> Vec<BackupPlan> {
        self.installed()
            .into_iter()
            .filter(|(row, _)| row.phase == Phase::Installed)
            .filter_map(|(row, m)| plan_of(&self.inner.data_dir, &row.id, row.running, &m))
            .collect()
    }

    /// Stops a service for a cold backup or a restore. Holds a job of kind `purpose` (so the
    /// reconciler and other jobs leave it alone) until [`Apps::start_after_backup`].
    pub async fn stop_for_backup(&self, app: &AppId, purpose: &str) -> Result<(), AppError> {
        let (row, m) = self.row_and_manifest(app)?;
        let job = self.inner.jobs.begin(app, purpose, "backup")?;
        job.step("stop", 10);
        if let Err(e) = self.stop_containers(&row.id, &m).await {
            job.finish(Err(super::failure::of(&e)));
            return Err(e);
        }
        job.step("stopped", 50);
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.clone(), job);
        Ok(())
    }

    /// Brings a service back to its wanted state after its backup or restore and ends the
    /// job [`Apps::stop_for_backup`] holds. A service held by another job is left to it.
    pub async fn start_after_backup(&self, app: &AppId) -> Result<(), AppError> {
        let job = self
            .inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app);
        if job.is_none() && self.inner.jobs.busy(app) {
            return Ok(());
        }
        if let Some(job) = &job {
            job.step("start", 80);
        }
        let result = match self.row_and_manifest(app) {
            Ok((row, m)) => self.converge(&row, &m).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Some(job) = job {
            job.finish(result.as_ref().map(|_| ()).map_err(super::failure::of));
        }
        self.wake();
        result
    }

    /// Runs `argv` in the service's container `container` (manifest name). A non-zero exit is
    /// not an error here: the caller reads `exit_code`.
    pub async fn exec(
        &self,
        app: &AppId,
        container: &str,
        argv: &[String],
    ) -> Result<crate::engine::ExecOutput, AppError> {
        let (_, m) = self.row_and_manifest(app)?;
        if !m.containers.iter().any(|c| c.name == container) {
            return Err(AppError::NoSuchContainer {
                app: app.clone(),
                container: container.to_owned(),
            });
        }
        self.inner
            .engine
            .exec(&spec::container_name(app, container), argv)
            .await
            .map_err(AppError::engine(app))
    }

    /// A safety snapshot of every volume of `app`, which the calling job holds stopped.
    /// `None` when backups are not set up here or have no target.
    pub(super) async fn safety_snapshot(
        &self,
        job: &Job,
        app: &AppId,
        percent: i64,
    ) -> Result<Option<SafetyPoint>, AppError> {
        let Some(safety) = self.inner.safety.get().filter(|s| s.enabled()) else {
            return Ok(None);
        };
        job.step("safety_backup", percent);
        let dir = spec::app_dir(&self.inner.data_dir, app).join("volumes");
        let mut volumes: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        volumes.sort();
        let point = safety
            .snapshot(app.as_str(), volumes)
            .await
            .map_err(|message| AppError::SafetyBackup {
                app: app.clone(),
                message,
            })?;
        if let Some(p) = &point {
            log::info!(app = app.as_str(); "safety snapshot {} of {app} on backup target {}", p.snapshot, p.target);
        }
        Ok(point)
    }

    /// Puts a safety snapshot back (the calling job holds the service stopped).
    pub(super) async fn restore_safety(
        &self,
        job: &Job,
        app: &AppId,
        point: &SafetyPoint,
        percent: i64,
    ) -> Result<(), String> {
        let Some(safety) = self.inner.safety.get() else {
            return Err("backups are not available".into());
        };
        job.step("restore_data", percent);
        safety.restore(app.as_str(), point).await
    }
}

/// A service's backup plan from its manifest; a service wanted stopped is saved cold.
fn plan_of(data_dir: &Path, app: &AppId, running: bool, m: &Manifest) -> Option<BackupPlan> {
    let cmds = |list: &[BackupCommand]| {
        list.iter()
            .map(|c| ExecCmd {
                container: c.container.clone(),
                argv: c.command.clone(),
            })
            .collect()
    };
    let b = m.backup.as_ref()?;
    let mode = match b.mode {
        BackupMode::Hot if running => Mode::Hot {
            pre: cmds(&b.pre),
            post: cmds(&b.post),
        },
        _ => Mode::Cold,
    };
    Some(BackupPlan {
        app: app.to_string(),
        volumes: b
            .volumes
            .iter()
            .map(|v| spec::volume_dir(data_dir, app, v))
            .collect(),
        mode,
    })
}

fn parse(app: &str) -> Result<AppId, String> {
    AppId::parse(app).map_err(|_| format!("'{app}' is not a service id"))
}

impl ServiceHooks for Apps {
    fn plans(&self) -> HookFuture<'_, Vec<BackupPlan>> {
        Box::pin(async move { Ok(self.backup_plans()) })
    }

    fn stop<'a>(&'a self, app: &'a str, purpose: &'static str) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.stop_for_backup(&parse(app)?, purpose)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn start<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.start_after_backup(&parse(app)?)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn after_restore<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()> {
        Box::pin(async move {
            let id = parse(app)?;
            let (_, m) = self.row_and_manifest(&id).map_err(|e| e.to_string())?;
            let cmds = m
                .backup
                .as_ref()
                .map(|b| b.restore.clone())
                .unwrap_or_default();
            if cmds.is_empty() {
                return Ok(());
            }
            self.wait_ready(&id, &m).await.map_err(|e| e.to_string())?;
            for c in &cmds {
                self.exec_checked(&id, &c.container, &c.command).await?;
            }
            Ok(())
        })
    }

    fn exec<'a>(
        &'a self,
        app: &'a str,
        container: &'a str,
        argv: &'a [String],
    ) -> HookFuture<'a, ()> {
        Box::pin(async move { self.exec_checked(&parse(app)?, container, argv).await })
    }
}

impl Apps {
    /// [`Apps::exec`], a non-zero exit being an error that quotes the end of the output.
    async fn exec_checked(
        &self,
        app: &AppId,
        container: &str,
        argv: &[String],
    ) -> Result<(), String> {
        let out = self
            .exec(app, container, argv)
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code == 0 {
            return Ok(());
        }
        let tail = super::setup::output_tail(&out.output, OUTPUT_KEPT);
        Err(format!(
            "`{}` in its container {container} exited with code {}: {tail}",
            argv.join(" "),
            out.exit_code
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(backup: &str) -> Manifest {
        let text = format!(
            r#"id = "notes"
version = "1.0-1"
category = "tools"
upstream = "https://busybox.net"
license = "GPL-2.0-only"
name = {{ fr = "Notes", en = "Notes" }}
description = {{ fr = "Notes.", en = "Notes." }}
requirements = {{ memory_mb = 32, disk_mb = 10 }}
first_run = "nothing"

[[volumes]]
name = "db"

[[provenance]]
image = "busybox:1"
repository = "https://busybox.net"
tag = "1"
files = ["Dockerfile"]
read_on = "2026-01-01"
binaries = ["dump"]

[[containers]]
name = "db"
image = "busybox:1"
memory_mb = 32
mounts = [{{ volume = "db", path = "/data" }}]
ports = [5432]

[[probe]]
http = "/"
contains = "hello"

[web]
container = "db"
port = 5432

{backup}"#
        );
        crate::catalog::parse_manifest(Path::new("notes/manifest.toml"), &text).unwrap()
    }

    #[test]
    fn plans_follow_the_backup_spec_and_a_stopped_service_is_saved_cold() {
        let app = AppId::parse("notes").unwrap();
        let data = Path::new("/var/lib/panier");
        let hot = manifest(
            "[backup]\nvolumes = [\"db\"]\nmode = \"hot\"\npre = [{ container = \"db\", command = [\"dump\"] }]\n",
        );
        let plan = plan_of(data, &app, true, &hot).unwrap();
        assert_eq!(
            plan.volumes,
            [PathBuf::from("/var/lib/panier/apps/notes/volumes/db")]
        );
        assert_eq!(
            plan.mode,
            Mode::Hot {
                pre: vec![ExecCmd {
                    container: "db".into(),
                    argv: vec!["dump".into()]
                }],
                post: vec![]
            }
        );
        assert_eq!(
            plan_of(data, &app, false, &hot).unwrap().mode,
            Mode::Cold,
            "no command runs in a stopped container"
        );
        let cold = manifest("[backup]\nvolumes = [\"db\"]\nmode = \"cold\"\n");
        assert_eq!(plan_of(data, &app, true, &cold).unwrap().mode, Mode::Cold);
    }
}
