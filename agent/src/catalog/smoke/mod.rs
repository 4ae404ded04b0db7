//! `panier catalog smoke`: the package check of a service (YunoHost's package_check is the
//! model). For each service, in a scratch agent of its own (`scratch`) on the real engine:
//!
//! 1. `install` with the defaults and generated values (a password, a word for a text),
//! 2. `healthy`: every container running and healthy,
//! 3. `probe`: the manifest's probes through the proxy by name (`probes`),
//! 4. `backup` to a folder target in the scratch directory,
//! 5. `remove` with its data,
//! 6. `restore`: installed again, then its snapshot put back,
//! 7. `probe_restored`,
//! 8. `update` from the previous catalog's version (`--previous DIR`), removed with its data,
//!    the scratch agent restarted on the previous catalog, installed, restarted on this
//!    catalog, updated — or `skipped` with the reason when there is no older version,
//! 9. `probe_updated`,
//! 10. `cleanup`: removed with its data, the scratch agent stopped, whatever the engine still
//!     has of the service (containers, networks) removed, the scratch folder deleted.
//!
//! A failed step skips the ones after it, except the cleanup, which always runs. The report
//! (`report`) gives each step's result, reason and time, in text (French or English from
//! `LANG`) or JSON.
//!
//! Limits: the engine must not already run the service for another agent (its container
//! names would clash; the check refuses, saying so); pulled images are kept in the engine's
//! cache; the scratch box's nightly backup is set to 23:00 (a nightly run prunes to one
//! snapshot a day and could drop the one the restore needs), so a check run between 23:00
//! and midnight may still meet it.

mod probes;
mod report;
mod scratch;

pub use report::{Report, ServiceReport, StepReport, StepResult};

use super::manifest::{Manifest, SettingType, Text};
use super::{Catalog, steps::compare_versions};
use crate::cli::CliError;
use crate::engine::Engine;
use hyper::Method;
use scratch::{Failure, Scratch, fail};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// The service to check (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub service: Option<String>,
    /// Check every service of the catalog.
    #[arg(long)]
    pub all: bool,
    /// The catalog directory.
    #[arg(long, default_value = crate::config::DEFAULT_CATALOG)]
    pub catalog: PathBuf,
    /// The previous catalog version (a folder of the same layout), for the update step.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// The container engine, as `unix:///path/to/docker.sock`.
    #[arg(long, default_value = "unix:///run/docker.sock")]
    pub engine: String,
    /// How long an install, an update or a removal may take, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout_s: u64,
    /// How long a probe may keep failing before its step fails, in seconds.
    #[arg(long, default_value_t = 120)]
    pub probe_timeout_s: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The steps, in order.
pub const STEPS: [&str; 10] = [
    "install",
    "healthy",
    "probe",
    "backup",
    "remove",
    "restore",
    "probe_restored",
    "update",
    "probe_updated",
    "cleanup",
];

pub async fn run(args: SmokeArgs) -> Result<(), CliError> {
    let catalog = Catalog::load(&args.catalog).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        CliError::Invalid(format!(
            "{} problems in {}",
            errors.len(),
            args.catalog.display()
        ))
    })?;
    let previous = match &args.previous {
        Some(dir) => Some(Catalog::load(dir).map_err(|errors| {
            CliError::Invalid(format!(
                "the previous catalog {} is invalid: {}",
                dir.display(),
                errors.first().map(|e| e.to_string()).unwrap_or_default()
            ))
        })?),
        None => None,
    };
    let ids: Vec<String> = match &args.service {
        Some(id) => {
            if !catalog.entries().any(|e| e.manifest.id.as_str() == id) {
                return Err(CliError::Usage(format!(
                    "no service '{id}' in {}",
                    args.catalog.display()
                )));
            }
            vec![id.clone()]
        }
        None => catalog
            .entries()
            .map(|e| e.manifest.id.to_string())
            .collect(),
    };
    let engine = crate::engine::docker::DockerEngine::new(&args.engine)
        .map_err(|e| CliError::Invalid(format!("the engine {}: {e}", args.engine)))?;
    let lang = report::language();
    let start = Instant::now();
    let mut services = Vec::new();
    for id in ids {
        let m = catalog
            .entries()
            .find(|e| e.manifest.id.as_str() == id)
            .map(|e| e.manifest.clone())
            .expect("listed from the catalog");
        let prev = previous.as_ref().and_then(|p| {
            p.entries()
                .find(|e| e.manifest.id.as_str() == id)
                .map(|e| (p.dir.clone(), e.manifest.clone()))
        });
        let check = Check {
            args: &args,
            engine: &engine,
            m: &m,
            previous: prev,
            progress: !args.json,
            lang,
        };
        services.push(check.run().await);
    }
    let report = Report::new(&args.catalog, &args.engine, services, start.elapsed());
    if args.json {
        crate::cli::print_json(&report);
    } else {
        print!("{}", report.text(lang));
    }
    if report.ok {
        Ok(())
    } else {
        Err(CliError::JobFailed(match lang {
            crate::names::Language::Fr => "la vérification a échoué".into(),
            crate::names::Language::En => "the package check failed".into(),
        }))
    }
}

/// The check of one service.
struct Check<'a> {
    args: &'a SmokeArgs,
    engine: &'a dyn Engine,
    m: &'a Manifest,
    previous: Option<(PathBuf, Manifest)>,
    progress: bool,
    lang: crate::names::Language,
}

/// The install form filled in: defaults, else a generated value for what is required.
pub fn generated_settings(m: &Manifest) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for s in &m.settings {
        let value = match (&s.default, s.kind) {
            (Some(toml::Value::String(v)), _) => v.clone(),
            (Some(toml::Value::Boolean(b)), _) => b.to_string(),
            (Some(toml::Value::Integer(n)), _) => n.to_string(),
            (_, SettingType::Password) => scratch::random_password(),
            (_, SettingType::Boolean) => "false".into(),
            (_, SettingType::Choice) => s
                .choices
                .as_ref()
                .and_then(|c| c.first().cloned())
                .unwrap_or_default(),
            (_, SettingType::Number) => s.min.or(s.max).unwrap_or(1).to_string(),
            (_, SettingType::String) if s.required => "smoke".into(),
            _ => continue,
        };
        out.insert(s.name.clone(), Value::String(value));
    }
    out
}

impl Check<'_> {
    fn limit(&self) -> Duration {
        Duration::from_secs(self.args.timeout_s)
    }

    async fn run(self) -> ServiceReport {
        let id = self.m.id.to_string();
        let start = Instant::now();
        let mut steps: Vec<StepReport> = Vec::new();
        let mut scratch: Option<Scratch> = None;
        let mut failed: Option<&'static str> = None;
        let mut snapshot = String::new();
        let mut update_skipped = false;
        for step in STEPS {
            if step == "cleanup" {
                let t = Instant::now();
                let result = self.cleanup(scratch.take()).await;
                self.record(&mut steps, step, t, result);
                continue;
            }
            if let Some(earlier) = failed {
                steps.push(StepReport::skipped(
                    step,
                    Text {
                        fr: format!("l'étape {earlier} a échoué"),
                        en: format!("the step {earlier} failed"),
                    },
                ));
                continue;
            }
            if step == "probe_updated" && update_skipped {
                steps.push(StepReport::skipped(
                    step,
                    Text {
                        fr: "pas de mise à jour à vérifier".into(),
                        en: "no update to check".into(),
                    },
                ));
                continue;
            }
            let t = Instant::now();
            let result = match step {
                "install" => match self.prepare().await {
                    Ok(s) => {
                        let r = self.install(&s).await;
                        scratch = Some(s);
                        r
                    }
                    Err(e) => Err(e),
                },
                "healthy" => self
                    .sc(&scratch)
                    .wait_running(&id, self.limit())
                    .await
                    .map(|_| None),
                "probe" | "probe_restored" | "probe_updated" => self.probe(self.sc(&scratch)).await,
                "backup" => self.backup(self.sc(&scratch), &mut snapshot).await,
                "remove" => self.remove(self.sc(&scratch)).await,
                "restore" => self.restore(self.sc(&scratch), &snapshot).await,
                "update" => self.update(scratch.as_mut().expect("started")).await,
                _ => unreachable!("every step is handled"),
            };
            match &result {
                Err(_) => failed = Some(step),
                Ok(Some(_)) if step == "update" => update_skipped = true,
                Ok(_) => {}
            }
            self.record(&mut steps, step, t, result);
        }
        let ok = steps.iter().all(|s| s.result != StepResult::Failed);
        ServiceReport {
            service: id,
            version: self.m.version.clone(),
            ok,
            seconds: (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            steps,
        }
    }

    fn sc<'s>(&self, scratch: &'s Option<Scratch>) -> &'s Scratch {
        scratch
            .as_ref()
            .expect("the scratch agent started with the install step")
    }

    /// Records a step: `Ok(None)` done, `Ok(Some(reason))` skipped, `Err` failed.
    fn record(
        &self,
        steps: &mut Vec<StepReport>,
        step: &'static str,
        t: Instant,
        result: Result<Option<Text>, Failure>,
    ) {
        let report = match result {
            Ok(None) => StepReport::new(step, StepResult::Ok, t.elapsed(), None),
            Ok(Some(why)) => StepReport::new(step, StepResult::Skipped, t.elapsed(), Some(why)),
            Err(why) => StepReport::new(step, StepResult::Failed, t.elapsed(), Some(why)),
        };
        if self.progress {
            eprintln!("{} {}", self.m.id, report.line(self.lang));
        }
        steps.push(report);
    }

    /// The scratch agent, once the engine is known not to run this service already.
    async fn prepare(&self) -> Result<Scratch, Failure> {
        let label = format!("{}={}", crate::apps::spec::LABEL_APP, self.m.id);
        let existing = self.engine.containers(&label).await.map_err(|e| {
            fail(
                format!("le moteur de conteneurs ne répond pas : {e}"),
                format!("the container engine does not answer: {e}"),
            )
        })?;
        if let Some(c) = existing.first() {
            return Err(fail(
                format!(
                    "le moteur fait déjà tourner ce service pour un autre agent ({}) : vérifiez-le sur un autre moteur",
                    c.name
                ),
                format!(
                    "the engine already runs this service for another agent ({}): check it on another engine",
                    c.name
                ),
            ));
        }
        Scratch::start(&self.args.catalog, &self.args.engine).await
    }

    async fn install(&self, s: &Scratch) -> Result<Option<Text>, Failure> {
        let body = json!({"app": self.m.id, "settings": generated_settings(self.m)});
        s.job(Method::POST, "/api/v1/apps", Some(body), self.limit())
            .await
            .map(|_| None)
    }

    async fn probe(&self, s: &Scratch) -> Result<Option<Text>, Failure> {
        let ca = s.data_dir().join("tls/ca.crt");
        let target = probes::Target {
            host: format!("{}-{}.local", self.m.id, scratch::BOX_NAME),
            https_port: s.https_port,
            ca: &ca,
        };
        probes::run_all(
            &self.m.probe,
            &target,
            Duration::from_secs(self.args.probe_timeout_s),
        )
        .await
        .map(|_| None)
    }

    async fn backup(&self, s: &Scratch, snapshot: &mut String) -> Result<Option<Text>, Failure> {
        let api =
            |fr: &str, en: &str, e: CliError| fail(format!("{fr} : {e}"), format!("{en}: {e}"));
        let repo = s.dir.join("backups");
        let c = s.client();
        // The box's nightly backup starts within a minute of a target's creation once its
        // hour has passed, and its pruning keeps one snapshot a day per service: the
        // snapshot taken here could be gone by the restore. 23:00 keeps it away.
        c.send(Method::PUT, "/api/v1/backup/schedule", json!({"hour": 23}))
            .await
            .map_err(|e| api("l'heure des sauvegardes", "the backup hour", e))?;
        c.call(
            Method::POST,
            "/api/v1/backup/targets",
            Some(json!({"name": "smoke", "location": {"kind": "folder", "path": repo}})),
        )
        .await
        .map_err(|e| api("la cible de sauvegarde", "the backup target", e))?;
        c.send(
            Method::POST,
            "/api/v1/backup/targets/smoke/kit/confirm",
            json!({}),
        )
        .await
        .map_err(|e| api("le kit de secours", "the emergency kit", e))?;
        let (_, bytes) = c
            .call(
                Method::POST,
                "/api/v1/backup/run",
                Some(json!({"target": "smoke", "wait": true})),
            )
            .await
            .map_err(|e| api("la sauvegarde", "the backup", e))?;
        let runs: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if let Some(bad) = runs
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["ok"] != true)
        {
            let why = bad["error"].as_str().unwrap_or("");
            return Err(fail(
                format!("la sauvegarde a échoué : {why}"),
                format!("the backup failed: {why}"),
            ));
        }
        let snaps: Vec<Value> = c
            .get("/api/v1/backup/targets/smoke/snapshots")
            .await
            .map_err(|e| api("les instantanés", "the snapshots", e))?;
        let tag = format!("app={}", self.m.id);
        let mine = snaps
            .iter()
            .filter(|v| {
                let tags: Vec<&str> = v["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                    .collect();
                tags.contains(&tag.as_str()) && !tags.iter().any(|t| t.starts_with("reason=safety"))
            })
            .max_by_key(|v| v["time"].as_str().unwrap_or("").to_owned());
        *snapshot = mine
            .and_then(|v| v["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                fail(
                    "la sauvegarde n'a pas d'instantané de ce service",
                    "the backup has no snapshot of this service",
                )
            })?;
        Ok(None)
    }

    async fn remove(&self, s: &Scratch) -> Result<Option<Text>, Failure> {
        let id = self.m.id.as_str();
        s.job(
            Method::DELETE,
            &format!("/api/v1/apps/{id}?delete_data=true&confirm={id}"),
            None,
            self.limit(),
        )
        .await?;
        let left = self.left_on_engine().await?;
        let data = s.data_dir().join("apps").join(id);
        if !left.is_empty() {
            return Err(fail(
                format!(
                    "le moteur garde {} après la désinstallation",
                    left.join(", ")
                ),
                format!("the engine keeps {} after the removal", left.join(", ")),
            ));
        }
        if data.join("volumes").exists() {
            return Err(fail(
                format!("les données restent dans {}", data.display()),
                format!("the data stays in {}", data.display()),
            ));
        }
        Ok(None)
    }

    async fn restore(&self, s: &Scratch, snapshot: &str) -> Result<Option<Text>, Failure> {
        self.install(s).await?;
        s.wait_running(self.m.id.as_str(), self.limit()).await?;
        s.client()
            .send(
                Method::POST,
                "/api/v1/backup/restore",
                json!({"target": "smoke", "app": self.m.id, "snapshot": snapshot}),
            )
            .await
            .map_err(|e| {
                fail(
                    format!("la restauration : {e}"),
                    format!("the restore: {e}"),
                )
            })?;
        s.wait_running(self.m.id.as_str(), self.limit()).await?;
        Ok(None)
    }

    async fn update(&self, s: &mut Scratch) -> Result<Option<Text>, Failure> {
        let Some((dir, old)) = &self.previous else {
            return Ok(Some(match &self.args.previous {
                None => Text {
                    fr: "aucun catalogue précédent n'est donné (--previous DIR)".into(),
                    en: "no previous catalog is given (--previous DIR)".into(),
                },
                Some(p) => Text {
                    fr: format!("le catalogue précédent {} n'a pas ce service", p.display()),
                    en: format!(
                        "the previous catalog {} does not have this service",
                        p.display()
                    ),
                },
            }));
        };
        if compare_versions(&old.version, &self.m.version) != std::cmp::Ordering::Less {
            return Ok(Some(Text {
                fr: format!(
                    "le catalogue précédent a la même version ou une plus récente ({})",
                    old.version
                ),
                en: format!(
                    "the previous catalog has the same or a newer version ({})",
                    old.version
                ),
            }));
        }
        let id = self.m.id.as_str();
        self.remove(s).await?;
        s.restart_on(dir)?;
        s.job(
            Method::POST,
            "/api/v1/apps",
            Some(json!({"app": id, "settings": generated_settings(old)})),
            self.limit(),
        )
        .await?;
        s.wait_running(id, self.limit()).await?;
        s.restart_on(&self.args.catalog)?;
        s.job(
            Method::POST,
            &format!("/api/v1/apps/{id}/update"),
            None,
            self.limit(),
        )
        .await?;
        s.wait_running(id, self.limit()).await?;
        let status: Value = s
            .client()
            .get(&format!("/api/v1/apps/{id}"))
            .await
            .map_err(|e| {
                fail(
                    format!("l'état du service : {e}"),
                    format!("the service's status: {e}"),
                )
            })?;
        if status["version"] != self.m.version.as_str() {
            return Err(fail(
                format!(
                    "la version installée est {}, pas {}",
                    status["version"], self.m.version
                ),
                format!(
                    "the installed version is {}, not {}",
                    status["version"], self.m.version
                ),
            ));
        }
        Ok(None)
    }

    /// Removes the service with its data if the scratch agent has it, waiting while another
    /// job holds it (an install cut short by its time limit).
    async fn remove_installed(&self, s: &Scratch) -> Result<(), Failure> {
        let id = self.m.id.as_str();
        let start = Instant::now();
        loop {
            if s.client()
                .get::<Value>(&format!("/api/v1/apps/{id}"))
                .await
                .is_err()
            {
                return Ok(());
            }
            match s
                .job(
                    Method::DELETE,
                    &format!("/api/v1/apps/{id}?delete_data=true&confirm={id}"),
                    None,
                    self.limit(),
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(e)
                    if start.elapsed() < Duration::from_secs(120)
                        && e.en.starts_with("the request is refused") =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Names of the containers and networks the engine has of this service.
    async fn left_on_engine(&self) -> Result<Vec<String>, Failure> {
        let label = format!("{}={}", crate::apps::spec::LABEL_APP, self.m.id);
        let engine = |e: crate::engine::EngineError| {
            fail(
                format!("le moteur de conteneurs : {e}"),
                format!("the container engine: {e}"),
            )
        };
        let mut left: Vec<String> = self
            .engine
            .containers(&label)
            .await
            .map_err(engine)?
            .into_iter()
            .map(|c| c.name)
            .collect();
        left.extend(
            self.engine
                .networks(&label)
                .await
                .map_err(engine)?
                .into_iter()
                .map(|n| n.name),
        );
        Ok(left)
    }

    /// Removes everything the check made, whatever happened before.
    async fn cleanup(&self, scratch: Option<Scratch>) -> Result<Option<Text>, Failure> {
        let id = self.m.id.as_str();
        let mut forced = Vec::new();
        if let Some(s) = scratch {
            if let Err(e) = self.remove_installed(&s).await {
                forced.push(e.en);
            }
            let dir = s.dir.to_owned();
            if let Err(e) = s.remove() {
                return Err(fail(
                    format!("le dossier de travail {} reste : {e}", dir.display()),
                    format!("the scratch folder {} stays: {e}", dir.display()),
                ));
            }
        }
        // Whatever the agent could not remove, the engine is asked to.
        let label = format!("{}={}", crate::apps::spec::LABEL_APP, id);
        if let Ok(containers) = self.engine.containers(&label).await {
            for c in containers {
                let _ = self.engine.remove(&c.name).await;
                forced.push(c.name);
            }
        }
        if let Ok(networks) = self.engine.networks(&label).await {
            for n in networks {
                let _ = self.engine.remove_network(&n.name).await;
                forced.push(n.name);
            }
        }
        let left = self.left_on_engine().await?;
        if !left.is_empty() {
            return Err(fail(
                format!("le moteur garde {}", left.join(", ")),
                format!("the engine keeps {}", left.join(", ")),
            ));
        }
        if forced.is_empty() {
            Ok(None)
        } else {
            // Done, but not by the agent's own removal: said as a failure, with what it took.
            Err(fail(
                format!("nettoyé de force : {}", forced.join(", ")),
                format!("cleaned up by force: {}", forced.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn settings_are_filled_with_defaults_then_generated_values() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/catalog/firstrun/manifest.toml"),
        )
        .unwrap();
        let m = crate::catalog::parse_manifest(Path::new("firstrun/manifest.toml"), &text).unwrap();
        let s = generated_settings(&m);
        assert_eq!(s["fail"], "false");
        assert!(s["admin_password"].as_str().unwrap().len() >= 16);
    }
}
