//! The manifest schema (`services/<id>/manifest.toml`), as serde types. Unknown fields are
//! rejected everywhere (`deny_unknown_fields`), so a typo is an error, not a silent default.
//! `services/README.md` documents every field; keep the two in step.

use super::AppId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Text in both languages.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub fr: String,
    pub en: String,
}

impl Text {
    /// The same text in both languages (a configuration file's route has one).
    pub fn same(text: &str) -> Text {
        Text {
            fr: text.to_owned(),
            en: text.to_owned(),
        }
    }

    pub fn get(&self, lang: crate::names::Language) -> &str {
        match lang {
            crate::names::Language::Fr => &self.fr,
            crate::names::Language::En => &self.en,
        }
    }
}

/// The needs the catalog covers (the table of categories in `services/README.md`).
#[derive(
    Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Documents,
    Files,
    Calendars,
    Video,
    Messaging,
    Social,
    Websites,
    Wikis,
    Mail,
    Tools,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::Documents,
        Category::Files,
        Category::Calendars,
        Category::Video,
        Category::Messaging,
        Category::Social,
        Category::Websites,
        Category::Wikis,
        Category::Mail,
        Category::Tools,
    ];
    pub fn key(self) -> &'static str {
        match self {
            Category::Documents => "documents",
            Category::Files => "files",
            Category::Calendars => "calendars",
            Category::Video => "video",
            Category::Messaging => "messaging",
            Category::Social => "social",
            Category::Websites => "websites",
            Category::Wikis => "wikis",
            Category::Mail => "mail",
            Category::Tools => "tools",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: AppId,
    /// The catalog version: upstream version and a packaging revision, `2.2.7-1`.
    pub version: String,
    pub category: Category,
    pub name: Text,
    pub description: Text,
    pub upstream: String,
    pub license: String,
    pub requirements: Requirements,
    #[serde(default)]
    pub settings: Vec<Setting>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    pub containers: Vec<Container>,
    pub web: Option<Web>,
    #[serde(default)]
    pub publish: Vec<Publish>,
    pub backup: Option<Backup>,
    /// Where these facts come from, one entry per image (`provenance`).
    #[serde(default)]
    pub provenance: Vec<super::provenance::Provenance>,
    /// How the service's own installer or default account is closed (`steps`); required
    /// (checked by the validation, so that a manifest missing it still shows its other
    /// problems).
    pub first_run: Option<super::steps::FirstRun>,
    /// The service's first-run setup, run once at install (`steps`).
    #[serde(default)]
    pub setup: Vec<super::steps::Step>,
    /// Which settings follow the service's address, and how (`steps`).
    pub address: Option<super::steps::Address>,
    /// The path an update takes (`steps`).
    pub update: Option<super::steps::Update>,
    /// What a working install answers, asked by the package check (`probe`).
    #[serde(default)]
    pub probe: Vec<super::probe::Probe>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Memory the service needs to run comfortably, in MiB.
    pub memory_mb: u64,
    /// Disk space for images and a first amount of data, in MiB.
    pub disk_mb: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettingType {
    String,
    Password,
    Boolean,
    Choice,
    Number,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: SettingType,
    pub label: Text,
    pub help: Option<Text>,
    #[serde(default)]
    pub required: bool,
    pub default: Option<toml::Value>,
    /// For `choice`: the allowed values.
    pub choices: Option<Vec<String>>,
    /// For `number`: bounds, inclusive.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// For `string`/`password`: the longest accepted value (default 200).
    pub max_length: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    #[default]
    Alphanumeric,
    Hex,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    #[serde(default = "default_secret_length")]
    pub length: usize,
    #[serde(default)]
    pub alphabet: Alphabet,
}

fn default_secret_length() -> usize {
    32
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    /// Owner (`uid:gid`) given to the host directory at creation, for images running as a
    /// non-root user.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    pub volume: String,
    pub path: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Run inside the container; healthy when it exits 0.
    pub command: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval_s: u64,
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    #[serde(default = "default_retries")]
    pub retries: u64,
    #[serde(default)]
    pub start_period_s: u64,
}

fn default_interval() -> u64 {
    30
}
fn default_timeout() -> u64 {
    10
}
fn default_retries() -> u64 {
    3
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub name: String,
    /// `registry/repository:tag`, optionally `@sha256:<digest>`.
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// Values may hold `{{setting.X}}`, `{{secret.X}}`, `{{app.id}}`, `{{app.domain}}`,
    /// `{{app.url}}`.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Ports the container listens on inside its network.
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    pub user: Option<String>,
    pub memory_mb: u64,
    pub health: Option<Health>,
    /// Containers of the same service that must be started first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Seconds given to stop cleanly before being killed (databases need time to flush).
    #[serde(default = "default_stop_grace")]
    pub stop_grace_s: u32,
}

fn default_stop_grace() -> u32 {
    30
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Web {
    pub container: String,
    pub port: u16,
    #[serde(default = "default_body_mb")]
    pub max_body_mb: u64,
    #[serde(default)]
    pub websocket: bool,
}

fn default_body_mb() -> u64 {
    10
}

#[derive(
    Debug,
    Clone,
    Copy,
    Deserialize,
    Serialize,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    pub container: String,
    pub port: u16,
    pub host_port: u16,
    #[serde(default = "default_proto")]
    pub proto: Proto,
}

fn default_proto() -> Proto {
    Proto::Tcp
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    Cold,
    Hot,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupCommand {
    pub container: String,
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub volumes: Vec<String>,
    pub mode: BackupMode,
    #[serde(default)]
    pub pre: Vec<BackupCommand>,
    #[serde(default)]
    pub post: Vec<BackupCommand>,
    /// Run after a restore, once the service is ready again: loads what `pre` dumped (a
    /// database's live files are not in the backup, only its dump).
    #[serde(default)]
    pub restore: Vec<BackupCommand>,
}
