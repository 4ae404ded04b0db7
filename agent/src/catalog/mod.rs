//! The service catalog: one folder per service under the catalog directory (`services/` in the
//! repository, `/usr/share/panier/services` on the box), each with `manifest.toml`,
//! `icon.svg`, `description.fr.md` and `description.en.md`.
//!
//! Owns: the manifest schema (`manifest`), its validation (`validate`), the probes the
//! package check asks (`probe`), tags resolved to digests and written into the manifests
//! (`pin`, `panier catalog pin`) and the loaded, read-only [`Catalog`]. `panier catalog check
//! DIR` runs the same validation.
//!
//! Invariants: a [`Catalog`] only holds manifests that passed every check (unknown fields,
//! references between containers, volumes, settings and secrets, port clashes across the
//! catalog, duplicate ids). Every error names the file, the field and the problem. The
//! catalog never touches the engine or the store, except `smoke` (`panier catalog smoke`,
//! the package check), which drives a scratch agent of its own on the real engine.

pub mod manifest;
pub mod pin;
pub mod probe;
pub mod provenance;
pub mod smoke;
pub mod steps;
mod validate;
pub use validate::start_order;

pub use manifest::{Category, Manifest, Proto, SettingType, Text};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A service's id: 2 to 24 characters, lowercase letters, digits and inner hyphens, starting
/// with a letter. It names containers (`panier-<id>-<container>`), networks, directories and
/// the host name `<id>-<box>.local`, so it is kept short and DNS-safe.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "etherpad")]
pub struct AppId(String);

impl AppId {
    pub fn parse(value: &str) -> Result<AppId, crate::names::Invalid> {
        let ok = (2..=24).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && !value.ends_with('-')
            && !value.contains("--")
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(AppId(value.to_owned()))
        } else {
            Err(crate::names::Invalid {
                key: "app_id_invalid",
                message: format!(
                    "'{value}' is not a service id: 2 to 24 lowercase letters, digits and single inner hyphens, starting with a letter"
                ),
            })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppId {
    type Error = crate::names::Invalid;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        AppId::parse(&v)
    }
}
impl From<AppId> for String {
    fn from(v: AppId) -> String {
        v.0
    }
}
impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem in a catalog: the file, the field (dotted path, `containers[1].image`) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{file}: {field}: {problem}")]
pub struct CatalogError {
    pub file: PathBuf,
    pub field: String,
    pub problem: String,
}

/// A validated service: its manifest and its folder's other files.
#[derive(Debug, Clone)]
pub struct Entry {
    pub manifest: Manifest,
    pub icon_svg: String,
    pub page: Text,
}

/// The loaded catalog, by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub dir: PathBuf,
    entries: BTreeMap<AppId, Entry>,
}

impl Catalog {
    /// Loads and validates every service folder of `dir`. All problems are returned together.
    pub fn load(dir: &Path) -> Result<Catalog, Vec<CatalogError>> {
        let mut errors = Vec::new();
        let mut entries = BTreeMap::new();
        let read = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                return Err(vec![CatalogError {
                    file: dir.to_owned(),
                    field: String::new(),
                    problem: format!("cannot read the catalog directory: {e}"),
                }]);
            }
        };
        let mut folders: Vec<PathBuf> = read
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        folders.sort();
        for folder in folders {
            match load_folder(&folder) {
                Ok(entry) => {
                    let file = folder.join("manifest.toml");
                    if entries.contains_key(&entry.manifest.id) {
                        errors.push(CatalogError {
                            file,
                            field: "id".into(),
                            problem: format!(
                                "the id '{}' is used by another service",
                                entry.manifest.id
                            ),
                        });
                    } else {
                        entries.insert(entry.manifest.id.clone(), entry);
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        errors.extend(validate::across(dir, entries.values().map(|e| &e.manifest)));
        if errors.is_empty() {
            Ok(Catalog {
                dir: dir.to_owned(),
                entries,
            })
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, id: &AppId) -> Option<&Entry> {
        self.entries.get(id)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Parses and checks one manifest file's text (without the folder's other files).
pub fn parse_manifest(file: &Path, text: &str) -> Result<Manifest, Vec<CatalogError>> {
    let err = |field: String, problem: String| {
        vec![CatalogError {
            file: file.to_owned(),
            field,
            problem,
        }]
    };
    let de = toml::Deserializer::parse(text)
        .map_err(|e| err(String::new(), format!("not valid TOML: {}", e.message())))?;
    let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut field = if path == "." { String::new() } else { path };
        let message = e.into_inner().message().to_owned();
        // serde names a missing field only in its message: put it in the field path too.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            field = if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
        }
        err(field, message)
    })?;
    let errors = validate::manifest(file, &manifest);
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(errors)
    }
}

fn load_folder(folder: &Path) -> Result<Entry, Vec<CatalogError>> {
    let file = folder.join("manifest.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        vec![CatalogError {
            file: file.clone(),
            field: String::new(),
            problem: format!("cannot read it: {e}"),
        }]
    })?;
    let manifest = parse_manifest(&file, &text)?;
    let mut errors = Vec::new();
    let folder_name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if folder_name != manifest.id.as_str() {
        errors.push(CatalogError {
            file: file.clone(),
            field: "id".into(),
            problem: format!(
                "the id '{}' differs from its folder name '{folder_name}'",
                manifest.id
            ),
        });
    }
    let mut read = |name: &str| match std::fs::read_to_string(folder.join(name)) {
        Ok(t) if !t.trim().is_empty() => t,
        _ => {
            errors.push(CatalogError { file: folder.join(name), field: String::new(), problem: "missing or empty (every service has an icon and a description page in French and English)".into() });
            String::new()
        }
    };
    let icon_svg = read("icon.svg");
    let page = Text {
        fr: read("description.fr.md"),
        en: read("description.en.md"),
    };
    if !icon_svg.is_empty() && !icon_svg.contains("<svg") {
        errors.push(CatalogError {
            file: folder.join("icon.svg"),
            field: String::new(),
            problem: "is not an SVG image".into(),
        });
    }
    if errors.is_empty() {
        Ok(Entry {
            manifest,
            icon_svg,
            page,
        })
    } else {
        Err(errors)
    }
}
