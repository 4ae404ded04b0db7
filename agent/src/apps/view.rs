//! What the API, the CLI and the pages show about the catalog and the installed services.

use super::spec;
use super::{AppError, Apps};
use crate::catalog::manifest::{Manifest, SettingType};
use crate::catalog::{AppId, Category};
use crate::engine::{HealthState, Usage};
use crate::names::Language;
use crate::store::{JobRow, Phase};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettingView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SettingType,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub default: String,
    pub choices: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// A catalog entry with whether it fits on this box now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CatalogCard {
    #[schema(value_type = String)]
    pub id: AppId,
    pub version: String,
    pub category: Category,
    pub name: String,
    pub description: String,
    pub upstream: String,
    pub license: String,
    pub memory_mb: u64,
    pub disk_mb: u64,
    /// Enough available memory and free disk (beyond the 1 GiB reserve) right now.
    pub fits: bool,
    pub memory_available_mb: Option<u64>,
    pub disk_free_mb: Option<u64>,
    pub installed: bool,
    pub settings: Vec<SettingView>,
    pub page: String,
    /// Every image is on the box already (loaded from a pack): installs without internet.
    pub offline: bool,
    /// This version was brought by an imported pack.
    pub from_pack: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContainerView {
    pub name: String,
    /// The engine's word (running, exited…), or `missing`.
    pub status: String,
    pub health: HealthState,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: u64,
    /// Share of the whole box's processor time (all cores), 0–100, measured over a second.
    pub cpu_percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppStatus {
    #[schema(value_type = String)]
    pub id: AppId,
    pub name: String,
    pub version: String,
    /// The catalog's version when it differs (an update is available).
    pub update_to: Option<String>,
    pub phase: Phase,
    /// What the admin asked for: running or stopped.
    pub wanted: String,
    /// What it is: running, stopped, starting, partly_running, installing, updating,
    /// removing, or engine_down.
    pub state: String,
    pub url: Option<String>,
    /// Why the service keeps the address it was installed with (its address is part of its
    /// data), when it does.
    pub address_fixed: Option<String>,
    /// Why the catalog's version cannot be reached by an update, when it cannot.
    pub update_refused: Option<String>,
    pub containers: Vec<ContainerView>,
    pub published: Vec<String>,
    pub job: Option<JobRow>,
    pub installed_at: i64,
    /// Containers killed for memory and crash restarts of the last day.
    pub incidents: super::AppIncidents,
}

impl Apps {
    /// The catalog in `lang`, each card saying whether it fits.
    pub fn catalog_cards(&self, lang: Language) -> Vec<CatalogCard> {
        let r = crate::system::read(&self.inner.data_dir);
        let installed = self.installed_ids();
        self.offers()
            .into_values()
            .map(|o| {
                let e = &o.entry;
                let m = &e.manifest;
                let mem_ok = r
                    .memory_available_bytes
                    .is_none_or(|a| a >= m.requirements.memory_mb << 20);
                let disk_ok = r.disk_free_bytes.is_none_or(|f| {
                    f >= (m.requirements.disk_mb << 20) + super::DISK_RESERVE_BYTES
                });
                CatalogCard {
                    id: m.id.clone(),
                    version: m.version.clone(),
                    category: m.category,
                    name: m.name.get(lang).to_owned(),
                    description: m.description.get(lang).to_owned(),
                    upstream: m.upstream.clone(),
                    license: m.license.clone(),
                    memory_mb: m.requirements.memory_mb,
                    disk_mb: m.requirements.disk_mb,
                    fits: mem_ok && disk_ok,
                    memory_available_mb: r.memory_available_bytes.map(|b| b >> 20),
                    disk_free_mb: r.disk_free_bytes.map(|b| b >> 20),
                    installed: installed.contains(&m.id),
                    settings: settings_view(m, lang),
                    page: e.page.get(lang).to_owned(),
                    offline: o.offline,
                    from_pack: o.from_pack,
                }
            })
            .collect()
    }

    pub fn catalog_card(&self, id: &str, lang: Language) -> Result<CatalogCard, AppError> {
        self.catalog_cards(lang)
            .into_iter()
            .find(|c| c.id.as_str() == id)
            .ok_or_else(|| AppError::NotInCatalog(id.to_owned()))
    }

    pub fn icon(&self, id: &str) -> Option<String> {
        let id = AppId::parse(id).ok()?;
        self.offer(&id).map(|o| o.entry.icon_svg)
    }

    /// Every installed service, from the store and the last observation (no engine calls).
    pub fn list(&self, lang: Language) -> Vec<AppStatus> {
        self.installed_rows_with_removing()
            .into_iter()
            .map(|id| self.view(&id, lang, false))
            .filter_map(Result::ok)
            .collect()
    }

    fn installed_rows_with_removing(&self) -> Vec<AppId> {
        self.inner
            .store
            .apps()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    /// One service with fresh readings from the engine (state; memory and processor use
    /// unless a job is moving it, when they would mean little and slow its page down).
    pub async fn status(&self, app: &AppId, lang: Language) -> Result<AppStatus, AppError> {
        let mut view = self.view(app, lang, true)?;
        if self
            .inner
            .store
            .app(app)?
            .is_some_and(|r| r.phase == Phase::Installed)
        {
            let measure = !self.inner.jobs.busy(app);
            let readings = view.containers.iter().map(|c| async move {
                let name = spec::container_name(app, &c.name);
                let info = self.inner.engine.inspect(&name).await;
                let usage = match &info {
                    Ok(Some(i)) if i.running && measure => {
                        self.inner.engine.usage(&name).await.unwrap_or_default()
                    }
                    _ => Usage::default(),
                };
                (info, usage)
            });
            // Each usage reading takes a second: the containers are measured together.
            let readings = futures_util::future::join_all(readings).await;
            for (c, (info, usage)) in view.containers.iter_mut().zip(readings) {
                match info {
                    Ok(Some(info)) => {
                        c.status = info.status.clone();
                        c.health = info.health;
                        c.memory_bytes = usage.memory_bytes;
                        c.cpu_percent = usage.cpu_percent;
                    }
                    Ok(None) => c.status = "missing".into(),
                    Err(_) => c.status = "unknown".into(),
                }
            }
            view.state = overall(&view);
        }
        Ok(view)
    }

    fn view(&self, app: &AppId, lang: Language, _fresh: bool) -> Result<AppStatus, AppError> {
        let (row, m) = self.row_and_manifest(app)?;
        let observed = self
            .inner
            .observed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(app)
            .cloned()
            .unwrap_or_default();
        let containers = m
            .containers
            .iter()
            .map(|c| {
                let o = observed.get(&c.name);
                ContainerView {
                    name: c.name.clone(),
                    status: o
                        .map(|o| o.status.clone())
                        .unwrap_or_else(|| "unknown".into()),
                    health: o.map(|o| o.health).unwrap_or(HealthState::None),
                    memory_bytes: None,
                    memory_limit_bytes: c.memory_mb << 20,
                    cpu_percent: None,
                }
            })
            .collect();
        let catalog_version = self.offer(app).map(|o| o.entry.manifest.version);
        let mut view = AppStatus {
            id: app.clone(),
            name: m.name.get(lang).to_owned(),
            update_to: catalog_version.filter(|v| *v != row.version),
            version: row.version.clone(),
            phase: row.phase,
            wanted: if row.running {
                "running".into()
            } else {
                "stopped".into()
            },
            state: String::new(),
            url: m
                .web
                .as_ref()
                .map(|_| format!("https://{}", self.domain(app))),
            address_fixed: self.address_refusal(app).map(|r| r.get(lang).to_owned()),
            update_refused: self
                .inner
                .catalog
                .get(app)
                .filter(|e| e.manifest.version != row.version)
                .and_then(|e| crate::catalog::steps::refusal(&e.manifest, &row.version))
                .map(|r| r.get(lang).to_owned()),
            containers,
            published: m
                .publish
                .iter()
                .map(|p| format!("{}/{:?}", p.host_port, p.proto).to_lowercase())
                .collect(),
            job: self
                .inner
                .jobs
                .list(Some(app), 1)
                .ok()
                .and_then(|mut j| j.pop()),
            installed_at: row.installed_at,
            incidents: self.incidents_of(app),
        };
        view.state = match row.phase {
            Phase::Installing => "installing".into(),
            Phase::Updating => "updating".into(),
            Phase::Removing => "removing".into(),
            Phase::Installed
                if matches!(self.engine_status(), super::EngineStatus::Down { .. }) =>
            {
                "engine_down".into()
            }
            Phase::Installed => overall(&view),
        };
        Ok(view)
    }

    /// The last `tail` lines of each container's log, prefixed with the container's name.
    pub async fn logs(&self, app: &AppId, tail: usize) -> Result<Vec<String>, AppError> {
        let (_, m) = self.row_and_manifest(app)?;
        let mut out = Vec::new();
        for c in &m.containers {
            let lines = self
                .inner
                .engine
                .logs(&spec::container_name(app, &c.name), tail)
                .await
                .map_err(AppError::engine(app))?;
            out.extend(lines.into_iter().map(|l| format!("{}: {l}", c.name)));
        }
        Ok(out)
    }
}

fn overall(view: &AppStatus) -> String {
    let running = view
        .containers
        .iter()
        .filter(|c| c.status == "running")
        .count();
    let starting = view
        .containers
        .iter()
        .any(|c| c.health == HealthState::Starting);
    match (running, view.wanted.as_str()) {
        (0, "stopped") => "stopped".into(),
        (0, _) => "stopped".into(),
        (n, _) if n == view.containers.len() && starting => "starting".into(),
        (n, _) if n == view.containers.len() => "running".into(),
        _ => "partly_running".into(),
    }
}

fn settings_view(m: &Manifest, lang: Language) -> Vec<SettingView> {
    m.settings
        .iter()
        .map(|s| SettingView {
            name: s.name.clone(),
            kind: s.kind,
            label: s.label.get(lang).to_owned(),
            help: s
                .help
                .as_ref()
                .map(|h| h.get(lang).to_owned())
                .unwrap_or_default(),
            required: s.required,
            default: match &s.default {
                Some(toml::Value::String(v)) => v.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            choices: s.choices.clone().unwrap_or_default(),
            min: s.min,
            max: s.max,
        })
        .collect()
}
