//! `panier catalog pin`: each image tag of a catalog's manifests resolved to its digest
//! through its registry (`registry`), and written into the manifest file as
//! `tag@sha256:…` (`reference` splits the names).
//!
//! What is pinned: every `[[containers]] image` and every image of `[[update.through]]`. An
//! image already pinned is resolved again by its tag, and its digest replaced when the tag
//! moved. `[[provenance]] image` keeps the tag alone (it names what was read, and the
//! validation compares images without their digests).
//!
//! The files are edited with `toml_edit`, so comments, order and layout stay as they were;
//! only the image strings change. A manifest is rewritten (atomically) only when something
//! changed and the new text still passes the catalog's validation; a tag that cannot be
//! resolved leaves its image as it was and is reported.

pub mod reference;
pub mod registry;

use super::{Catalog, CatalogError};
use reference::ImageRef;
use registry::Registries;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Value};

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("the catalog {dir} is invalid ({} problems): {}", errors.len(), errors.first().map(|e| e.to_string()).unwrap_or_default())]
    Invalid {
        dir: PathBuf,
        errors: Vec<CatalogError>,
    },
    #[error("no service '{0}' in the catalog")]
    NoSuchService(String),
    #[error("cannot read or write {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not TOML that can be edited: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("pinning {path} would make it invalid: {message}")]
    WouldBreak { path: PathBuf, message: String },
}

/// What happened to one image of one manifest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PinLine {
    pub service: String,
    /// The field, as the validation names it (`containers[0].image`).
    pub field: String,
    /// The image as it was.
    pub before: String,
    /// The image as it is now (the same when nothing changed).
    pub after: String,
    /// `pinned` (a digest added), `moved` (the tag now points elsewhere), `unchanged`, or
    /// `failed` (see `error`).
    pub outcome: &'static str,
    pub error: Option<String>,
}

/// Calls `f` with every image string of a manifest document and its field path.
fn visit_images(doc: &mut DocumentMut, f: &mut dyn FnMut(String, &mut Value)) {
    fn tables(item: &mut Item, f: &mut dyn FnMut(usize, &mut dyn toml_edit::TableLike)) {
        if let Some(aot) = item.as_array_of_tables_mut() {
            for (i, t) in aot.iter_mut().enumerate() {
                f(i, t);
            }
        } else if let Some(array) = item.as_array_mut() {
            for (i, v) in array.iter_mut().enumerate() {
                if let Some(t) = v.as_inline_table_mut() {
                    f(i, t);
                }
            }
        }
    }
    if let Some(containers) = doc.get_mut("containers") {
        tables(containers, &mut |i, t| {
            if let Some(v) = t.get_mut("image").and_then(Item::as_value_mut) {
                f(format!("containers[{i}].image"), v);
            }
        });
    }
    if let Some(through) = doc
        .get_mut("update")
        .and_then(Item::as_table_like_mut)
        .and_then(|u| u.get_mut("through"))
    {
        tables(through, &mut |i, t| {
            if let Some(images) = t.get_mut("images").and_then(Item::as_table_like_mut) {
                for (name, v) in images.iter_mut() {
                    if let Some(v) = v.as_value_mut() {
                        f(format!("update.through[{i}].images.{}", name.get()), v);
                    }
                }
            }
        });
    }
}

/// Replaces a string value, keeping the spaces and comments around it.
fn set_string(v: &mut Value, text: &str) {
    let decor = v.decor().clone();
    *v = Value::from(text);
    *v.decor_mut() = decor;
}

/// The manifest text with its images replaced by `new` (old image → new image).
pub fn rewrite(text: &str, new: &BTreeMap<String, String>) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    visit_images(&mut doc, &mut |_, v| {
        if let Some(replacement) = v.as_str().and_then(|s| new.get(s)).cloned() {
            set_string(v, &replacement);
        }
    });
    Ok(doc.to_string())
}

/// The images of a manifest text, with their fields.
pub fn images(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let mut out = Vec::new();
    visit_images(&mut doc, &mut |field, v| {
        if let Some(s) = v.as_str() {
            out.push((field, s.to_owned()));
        }
    });
    Ok(out)
}

/// Pins the services `only` (all when empty) of the catalog in `dir`.
pub async fn pin_catalog(
    dir: &Path,
    only: &[String],
    registries: &Registries,
) -> Result<Vec<PinLine>, PinError> {
    let catalog = Catalog::load(dir).map_err(|errors| PinError::Invalid {
        dir: dir.to_owned(),
        errors,
    })?;
    for id in only {
        if !catalog.entries().any(|e| e.manifest.id.as_str() == id) {
            return Err(PinError::NoSuchService(id.clone()));
        }
    }
    let mut resolved: BTreeMap<String, Result<String, String>> = BTreeMap::new();
    let mut lines = Vec::new();
    for entry in catalog.entries() {
        let id = entry.manifest.id.as_str();
        if !only.is_empty() && !only.iter().any(|o| o == id) {
            continue;
        }
        let path = dir.join(id).join("manifest.toml");
        let file_error = |source| PinError::File {
            path: path.clone(),
            source,
        };
        let text = std::fs::read_to_string(&path).map_err(file_error)?;
        let found = images(&text).map_err(|message| PinError::Parse {
            path: path.clone(),
            message,
        })?;
        let mut new = BTreeMap::new();
        for (field, image) in found {
            let Some(r) = ImageRef::parse(&image) else {
                continue;
            };
            if !resolved.contains_key(&r.tagged) {
                let digest = registries.digest(&r).await.map_err(|e| e.to_string());
                resolved.insert(r.tagged.clone(), digest);
            }
            let (after, outcome, error) = match &resolved[&r.tagged] {
                Ok(d) if r.digest.as_deref() == Some(d.as_str()) => {
                    (image.clone(), "unchanged", None)
                }
                Ok(d) => (
                    r.pinned(d),
                    if r.digest.is_some() {
                        "moved"
                    } else {
                        "pinned"
                    },
                    None,
                ),
                Err(e) => (image.clone(), "failed", Some(e.clone())),
            };
            if after != image {
                new.insert(image.clone(), after.clone());
            }
            lines.push(PinLine {
                service: id.to_owned(),
                field,
                before: image,
                after,
                outcome,
                error,
            });
        }
        if new.is_empty() {
            continue;
        }
        let edited = rewrite(&text, &new).map_err(|message| PinError::Parse {
            path: path.clone(),
            message,
        })?;
        super::parse_manifest(&path, &edited).map_err(|errors| PinError::WouldBreak {
            path: path.clone(),
            message: errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        crate::fsutil::write_atomic(&path, edited.as_bytes()).map_err(file_error)?;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# a comment that stays
id = "x"

[[containers]]
name = "app"
image = "docker.io/library/nextcloud:33.0.8-apache"   # the app
memory_mb = 64

[[containers]]
name = "db"
image = "docker.io/library/postgres:16.15-alpine"

[update]
one_major_at_a_time = true

[[update.through]]
version = "33.0.8-1"
images = { app = "docker.io/library/nextcloud:33.0.8-apache" }
"#;

    #[test]
    fn images_are_found_and_rewritten_without_disturbing_the_rest() {
        let found = images(TEXT).unwrap();
        assert_eq!(
            found.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
            [
                "containers[0].image",
                "containers[1].image",
                "update.through[0].images.app"
            ]
        );
        let d = format!("sha256:{}", "1".repeat(64));
        let new = BTreeMap::from([(
            "docker.io/library/nextcloud:33.0.8-apache".to_owned(),
            format!("docker.io/library/nextcloud:33.0.8-apache@{d}"),
        )]);
        let out = rewrite(TEXT, &new).unwrap();
        let expected = TEXT.replace(
            "docker.io/library/nextcloud:33.0.8-apache",
            &format!("docker.io/library/nextcloud:33.0.8-apache@{d}"),
        );
        assert_eq!(out, expected);
    }
}
