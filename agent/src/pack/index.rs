//! A pack's index (`pack.json`): what the pack holds, with a checksum of every file, as the
//! signature covers it. Pure: parsing and the checks that need no file.
//!
//! Layout of a pack folder (on a USB stick: any top-level folder holding `pack.json`):
//! ```text
//! pack.json               this index
//! pack.json.minisig       its minisign signature
//! images/<id>.tar         one archive per image, in `docker save`'s format, named by the
//!                         image's content id (hex)
//! services/<id>/          each service's catalog folder at the packed version: manifest.toml,
//!                         icon.svg, description.fr.md, description.en.md
//! ```
//! Invariants checked by [`Index::parse`]: a known format; every path relative, inside the
//! pack, made of plain characters; every image archive and every service file listed in
//! `files` with its size and SHA-256; every image a service names is in `images`; no service
//! or image twice.

use crate::catalog::AppId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const INDEX: &str = "pack.json";
pub const SIGNATURE: &str = "pack.json.minisig";
pub const FORMAT: u32 = 1;
/// The files of a service's folder in a pack (those of a catalog folder).
pub const SERVICE_FILES: [&str; 4] = [
    "manifest.toml",
    "icon.svg",
    "description.fr.md",
    "description.en.md",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: u32,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// What made it (`panier 0.1.0 on atelier-pc`).
    pub created_by: String,
    pub services: Vec<PackService>,
    pub images: Vec<PackImage>,
    pub files: Vec<PackFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackService {
    #[schema(value_type = String)]
    pub id: AppId,
    /// The catalog version packed (`2.2.7-1`).
    pub version: String,
    /// The image references of its manifest, as written there.
    pub images: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackImage {
    /// As the manifests write it: `registry/repository:tag`, optionally `@sha256:…`.
    pub reference: String,
    /// The registry digest it was pulled by (`sha256:…`), when the registry gave one.
    pub digest: Option<String>,
    /// The image's content id (`sha256:…`): what the engine must hold after loading.
    pub id: String,
    /// Its archive, a path in `files`.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackFile {
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// Why an index is not acceptable (English; the key says it in the UI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IndexProblem(pub String);

impl Index {
    /// Parses and checks the signed bytes of `pack.json`.
    pub fn parse(bytes: &[u8]) -> Result<Index, IndexProblem> {
        let index: Index = serde_json::from_slice(bytes)
            .map_err(|e| IndexProblem(format!("pack.json is not a pack index: {e}")))?;
        index.check()?;
        Ok(index)
    }

    fn check(&self) -> Result<(), IndexProblem> {
        if self.format != FORMAT {
            return Err(IndexProblem(format!(
                "pack format {} is not known to this version of Panier (it reads format {FORMAT}): update the box first",
                self.format
            )));
        }
        let mut paths = BTreeSet::new();
        for f in &self.files {
            safe_path(&f.path)?;
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(IndexProblem(format!(
                    "{}: the checksum is not a SHA-256",
                    f.path
                )));
            }
            if !paths.insert(f.path.as_str()) {
                return Err(IndexProblem(format!("{} is listed twice", f.path)));
            }
        }
        let mut refs = BTreeSet::new();
        for i in &self.images {
            if !paths.contains(i.file.as_str()) {
                return Err(IndexProblem(format!(
                    "the archive {} of {} has no checksum in the index",
                    i.file, i.reference
                )));
            }
            if !is_image_id(&i.id) {
                return Err(IndexProblem(format!(
                    "{}: '{}' is not an image id",
                    i.reference, i.id
                )));
            }
            if !refs.insert(i.reference.as_str()) {
                return Err(IndexProblem(format!(
                    "the image {} is listed twice",
                    i.reference
                )));
            }
        }
        let mut ids = BTreeSet::new();
        for s in &self.services {
            if !ids.insert(&s.id) {
                return Err(IndexProblem(format!(
                    "the service {} is listed twice",
                    s.id
                )));
            }
            for name in SERVICE_FILES {
                let path = service_file(&s.id, name);
                if !paths.contains(path.as_str()) {
                    return Err(IndexProblem(format!("{path} has no checksum in the index")));
                }
            }
            for r in &s.images {
                if !refs.contains(r.as_str()) {
                    return Err(IndexProblem(format!(
                        "the service {} needs the image {r}, which is not in the pack",
                        s.id
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn file(&self, path: &str) -> Option<&PackFile> {
        self.files.iter().find(|f| f.path == path)
    }

    pub fn service(&self, id: &AppId) -> Option<&PackService> {
        self.services.iter().find(|s| &s.id == id)
    }

    pub fn image(&self, reference: &str) -> Option<&PackImage> {
        self.images.iter().find(|i| i.reference == reference)
    }

    /// Bytes of all the image archives.
    pub fn images_bytes(&self) -> u64 {
        self.images
            .iter()
            .filter_map(|i| self.file(&i.file))
            .map(|f| f.size)
            .sum()
    }
}

/// `services/<id>/<name>`.
pub fn service_file(id: &AppId, name: &str) -> String {
    format!("services/{id}/{name}")
}

/// `images/<hex of the id>.tar`.
pub fn image_file(id: &str) -> String {
    format!("images/{}.tar", id.trim_start_matches("sha256:"))
}

fn is_image_id(id: &str) -> bool {
    id.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A relative path inside the pack: segments of letters, digits, `.`, `_`, `-`; no `..`, no
/// empty segment, nothing absolute.
fn safe_path(path: &str) -> Result<(), IndexProblem> {
    let ok = !path.is_empty()
        && path.len() <= 200
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(IndexProblem(format!(
            "'{path}' is not a path inside the pack"
        )))
    }
}

/// Orders catalog versions (`2.2.7-1` < `2.2.10-1` < `2.3.0-1`): numbers compared as
/// numbers, other text as text, segment by segment.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> Vec<Result<u64, &str>> {
        v.split(['.', '-', '+', '~'])
            .map(|p| p.parse::<u64>().map_err(|_| p))
            .collect()
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x, y) {
            (Ok(x), Ok(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
            (Err(x), Err(y)) => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn sample() -> Index {
        let id = AppId::parse("pad").unwrap();
        let image_id = format!("sha256:{}", "a".repeat(64));
        let mut files: Vec<PackFile> = SERVICE_FILES
            .iter()
            .map(|n| PackFile {
                path: service_file(&id, n),
                size: 1,
                sha256: "0".repeat(64),
            })
            .collect();
        files.push(PackFile {
            path: image_file(&image_id),
            size: 10,
            sha256: "1".repeat(64),
        });
        Index {
            format: FORMAT,
            created_at: "2026-12-02T08:00:00Z".into(),
            created_by: "test".into(),
            services: vec![PackService {
                id,
                version: "1.0-1".into(),
                images: vec!["reg/pad:1".into()],
            }],
            images: vec![PackImage {
                reference: "reg/pad:1".into(),
                digest: None,
                file: image_file(&image_id),
                id: image_id,
            }],
            files,
        }
    }

    #[test]
    fn a_sound_index_parses_and_broken_ones_say_what_is_wrong() {
        let good = sample();
        let bytes = serde_json::to_vec(&good).unwrap();
        assert_eq!(Index::parse(&bytes).unwrap(), good);
        assert_eq!(good.images_bytes(), 10);

        let mut escape = good.clone();
        escape.files[0].path = "../../etc/passwd".into();
        escape.images[0].file = escape.files[0].path.clone();
        let e = Index::parse(&serde_json::to_vec(&escape).unwrap()).unwrap_err();
        assert!(e.0.contains("not a path inside the pack"), "{e}");

        let mut unlisted = good.clone();
        unlisted.files.pop();
        let e = Index::parse(&serde_json::to_vec(&unlisted).unwrap()).unwrap_err();
        assert!(e.0.contains("has no checksum"), "{e}");

        let mut missing = good.clone();
        missing.services[0].images.push("reg/db:2".into());
        let e = Index::parse(&serde_json::to_vec(&missing).unwrap()).unwrap_err();
        assert!(e.0.contains("reg/db:2"), "{e}");

        let mut newer = good;
        newer.format = 2;
        let e = Index::parse(&serde_json::to_vec(&newer).unwrap()).unwrap_err();
        assert!(e.0.contains("format 2"), "{e}");
        assert!(Index::parse(b"{}").is_err());
    }

    #[test]
    fn versions_order_numbers_as_numbers() {
        assert_eq!(version_cmp("2.2.7-1", "2.2.10-1"), Ordering::Less);
        assert_eq!(version_cmp("2.3.0-1", "2.2.10-1"), Ordering::Greater);
        assert_eq!(version_cmp("1.0-2", "1.0-1"), Ordering::Greater);
        assert_eq!(version_cmp("1.0-1", "1.0-1"), Ordering::Equal);
        assert_eq!(version_cmp("1.0", "1.0-1"), Ordering::Less);
    }
}
