//! The narrow boundary between backups and services: what to save for each service and how
//! to quiesce it. The services domain (`apps`) implements [`ServiceHooks`]; the backup runner
//! knows nothing else about apps or containers.
//!
//! Until `apps` provides its implementation, [`PlanFiles`] stands in: it reads
//! `<data>/apps/<app>/backup-plan.json` (written by whoever created the service — the system
//! tests) and drives the containers it names with the `docker` command. It is kept afterwards
//! for trainees and tests; the daemon prefers the `apps` implementation when there is one.

use serde::Deserialize;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// A command run inside one of a service's containers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecCmd {
    pub container: String,
    pub argv: Vec<String>,
}

/// How a service is made consistent for its snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Stopped for its snapshot, and always restarted afterwards, even when the backup fails.
    Cold,
    /// Stays up; `pre` (e.g. a database dump into a volume) runs before, `post` after.
    Hot {
        #[serde(default)]
        pre: Vec<ExecCmd>,
        #[serde(default)]
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
    /// Stops `app` for a cold snapshot or a restore.
    fn stop<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()>;
    /// Starts `app` again.
    fn start<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()>;
    /// Runs `argv` in `container` of `app`, failing on a non-zero exit.
    fn exec<'a>(&'a self, app: &'a str, container: &'a str, argv: &'a [String]) -> HookFuture<'a, ()>;
}

/// `backup-plan.json`: the service's mode and its containers' engine names.
#[derive(Debug, Deserialize)]
struct PlanFile {
    mode: Mode,
    /// Container name in the plan → container name in the engine.
    containers: std::collections::BTreeMap<String, String>,
}

/// The stand-in implementation: plan files plus the `docker` CLI against the engine socket.
pub struct PlanFiles {
    apps_dir: PathBuf,
    engine: String,
}

impl PlanFiles {
    pub fn new(data_dir: &Path, engine: &str) -> PlanFiles {
        PlanFiles { apps_dir: data_dir.join("apps"), engine: engine.to_owned() }
    }

    fn read(&self, app: &str) -> Result<PlanFile, String> {
        let path = self.apps_dir.join(app).join("backup-plan.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is invalid: {e}", path.display()))
    }

    async fn docker(&self, args: Vec<String>) -> Result<(), String> {
        let out = tokio::process::Command::new("docker")
            .arg("-H")
            .arg(&self.engine)
            .args(&args)
            .output()
            .await
            .map_err(|e| format!("running docker: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("docker {} failed: {}", args.first().map(String::as_str).unwrap_or(""), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    async fn each_container(&self, app: &str, verb: &str) -> Result<(), String> {
        let plan = self.read(app)?;
        let mut args = vec![verb.to_owned()];
        args.extend(plan.containers.into_values());
        self.docker(args).await
    }
}

impl ServiceHooks for PlanFiles {
    fn plans(&self) -> HookFuture<'_, Vec<BackupPlan>> {
        Box::pin(async move {
            let mut plans = Vec::new();
            let Ok(entries) = std::fs::read_dir(&self.apps_dir) else { return Ok(plans) };
            let mut apps: Vec<String> = entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
            apps.sort();
            for app in apps {
                if !self.apps_dir.join(&app).join("backup-plan.json").exists() {
                    continue;
                }
                let file = self.read(&app)?;
                let vol_dir = self.apps_dir.join(&app).join("volumes");
                let mut volumes: Vec<PathBuf> = std::fs::read_dir(&vol_dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
                volumes.sort();
                plans.push(BackupPlan { app, volumes, mode: file.mode });
            }
            Ok(plans)
        })
    }

    fn stop<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()> {
        Box::pin(self.each_container(app, "stop"))
    }

    fn start<'a>(&'a self, app: &'a str) -> HookFuture<'a, ()> {
        Box::pin(self.each_container(app, "start"))
    }

    fn exec<'a>(&'a self, app: &'a str, container: &'a str, argv: &'a [String]) -> HookFuture<'a, ()> {
        Box::pin(async move {
            let plan = self.read(app)?;
            let name = plan.containers.get(container).ok_or_else(|| format!("{app} has no container {container}"))?;
            let mut args = vec!["exec".to_owned(), name.clone()];
            args.extend(argv.iter().cloned());
            self.docker(args).await
        })
    }
}
