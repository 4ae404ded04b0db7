//! Opening a pack folder and using what it holds, each piece verified before use:
//! the index against its signature and the box's keys, each file against the index's size
//! and SHA-256, each image archive twice (once before the engine sees a byte, and again while
//! it streams to the engine, whose last chunk is held back until the second checksum matches,
//! so that a file changed between the two reads — a stick that answers differently — loads
//! nothing), and each loaded image against its content id.

use super::PackError;
use super::index::{self, Index, PackImage, PackService};
use crate::catalog::manifest::Text;
use crate::catalog::{AppId, Entry};
use crate::engine::Engine;
use crate::signing::keyring::{Keyring, Verified};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Read size for checksums and loads.
const CHUNK: usize = 1 << 20;

/// A pack whose index is signed by a trusted key and well formed.
#[derive(Debug, Clone)]
pub struct OpenPack {
    pub dir: PathBuf,
    pub index: Index,
    pub signer: Verified,
    /// SHA-256 of the signed index: the pack's identity.
    pub digest: String,
}

/// Opens `dir`: reads `pack.json` and its signature, checks the signature against `keys`
/// and the index's structure. Reads nothing else.
pub fn open(dir: &Path, keys: &Keyring) -> Result<OpenPack, PackError> {
    let index_path = dir.join(index::INDEX);
    if !index_path.is_file() {
        return Err(PackError::NotAPack {
            dir: dir.to_owned(),
        });
    }
    let bytes = read_small(&index_path)?;
    let signature = std::fs::read_to_string(dir.join(index::SIGNATURE)).map_err(|e| {
        PackError::Signature(crate::signing::keyring::KeyringError::Missing(format!(
            "{}: {e}",
            dir.join(index::SIGNATURE).display()
        )))
    })?;
    let signer = keys
        .verify(&bytes, &signature)
        .map_err(PackError::Signature)?;
    let index = Index::parse(&bytes).map_err(|p| PackError::BadIndex {
        dir: dir.to_owned(),
        problem: p.0,
    })?;
    Ok(OpenPack {
        dir: dir.to_owned(),
        index,
        signer,
        digest: hex::encode(Sha256::digest(&bytes)),
    })
}

/// Reads a small file whole (an index, a manifest): at most 4 MiB.
fn read_small(path: &Path) -> Result<Vec<u8>, PackError> {
    let unreadable = |e: std::io::Error| PackError::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(4 << 20)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(bytes)
}

impl OpenPack {
    fn path_of(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn tampered(&self, rel: &str, problem: String) -> PackError {
        PackError::Tampered {
            file: self.path_of(rel),
            problem,
        }
    }

    /// A small listed file's bytes, checked against the index.
    pub fn read_file(&self, rel: &str) -> Result<Vec<u8>, PackError> {
        let listed = self
            .index
            .file(rel)
            .ok_or_else(|| self.tampered(rel, "it is not listed in the signed index".into()))?;
        let bytes = read_small(&self.path_of(rel))?;
        let sum = hex::encode(Sha256::digest(&bytes));
        if bytes.len() as u64 != listed.size || sum != listed.sha256 {
            return Err(self.tampered(
                rel,
                format!(
                    "{} bytes with SHA-256 {sum}, the signed index says {} bytes with {}",
                    bytes.len(),
                    listed.size,
                    listed.sha256
                ),
            ));
        }
        Ok(bytes)
    }

    /// Checks a listed file of any size against the index (blocking: reads it whole).
    pub fn check_file(&self, rel: &str) -> Result<(), PackError> {
        let listed = self
            .index
            .file(rel)
            .ok_or_else(|| self.tampered(rel, "it is not listed in the signed index".into()))?;
        let path = self.path_of(rel);
        let unreadable = |e: std::io::Error| PackError::Unreadable {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut file = std::fs::File::open(&path).map_err(unreadable)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(unreadable)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > listed.size {
                return Err(self.tampered(
                    rel,
                    format!(
                        "longer than the {} bytes the signed index says",
                        listed.size
                    ),
                ));
            }
            hasher.update(&buf[..n]);
        }
        let sum = hex::encode(hasher.finalize());
        if size != listed.size || sum != listed.sha256 {
            return Err(self.tampered(
                rel,
                format!(
                    "{size} bytes with SHA-256 {sum}, the signed index says {} bytes with {}",
                    listed.size, listed.sha256
                ),
            ));
        }
        Ok(())
    }

    /// A service's catalog entry as packed: every file checked, the manifest validated like
    /// a catalog's, and its id, version and images those the index names.
    pub fn service_entry(&self, id: &AppId) -> Result<(PackService, Entry), PackError> {
        let service = self
            .index
            .service(id)
            .cloned()
            .ok_or_else(|| PackError::NotInPack {
                app: id.to_string(),
                dir: self.dir.clone(),
            })?;
        let text = |name: &str| -> Result<String, PackError> {
            let rel = index::service_file(id, name);
            String::from_utf8(self.read_file(&rel)?)
                .map_err(|_| self.tampered(&rel, "it is not UTF-8 text".into()))
        };
        let manifest_path = self.path_of(&index::service_file(id, "manifest.toml"));
        let manifest = crate::catalog::parse_manifest(&manifest_path, &text("manifest.toml")?)
            .map_err(|errors| PackError::BadManifest {
                app: id.to_string(),
                problems: errors.iter().map(|e| e.to_string()).collect(),
            })?;
        let mut images: Vec<String> = manifest
            .containers
            .iter()
            .map(|c| c.image.clone())
            .collect();
        images.sort();
        images.dedup();
        let mut listed = service.images.clone();
        listed.sort();
        if manifest.id != *id || manifest.version != service.version || images != listed {
            return Err(PackError::BadManifest {
                app: id.to_string(),
                problems: vec![format!(
                    "{}: the manifest ({} {}, images {}) is not what the signed index says ({} {}, images {})",
                    manifest_path.display(),
                    manifest.id,
                    manifest.version,
                    images.join(", "),
                    id,
                    service.version,
                    listed.join(", ")
                )],
            });
        }
        let icon_svg = text("icon.svg")?;
        let page = Text {
            fr: text("description.fr.md")?,
            en: text("description.en.md")?,
        };
        Ok((
            service,
            Entry {
                manifest,
                icon_svg,
                page,
            },
        ))
    }

    /// Loads one image archive into the engine, verified (see the module doc), and gives it
    /// its reference's tag. Returns the archive's size.
    pub async fn load_image(
        &self,
        engine: &dyn Engine,
        image: &PackImage,
    ) -> Result<u64, PackError> {
        let me = self.clone();
        let rel = image.file.clone();
        tokio::task::spawn_blocking(move || me.check_file(&rel))
            .await
            .expect("checksum task")?;
        let listed = self
            .index
            .file(&image.file)
            .cloned()
            .expect("checked above");
        let path = self.path_of(&image.file);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| PackError::Unreadable {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let (tx, changed) = tokio::sync::oneshot::channel();
        let stream = verified_stream(file, listed.sha256.clone(), tx);
        let loaded = engine.load_image(stream).await;
        if changed.await.unwrap_or(false) {
            return Err(self.tampered(
                &image.file,
                "it changed while it was being loaded (nothing was loaded)".into(),
            ));
        }
        loaded.map_err(|error| PackError::Load {
            reference: image.reference.clone(),
            error,
        })?;
        let found = engine
            .image_info(&image.id)
            .await
            .map_err(|error| PackError::Load {
                reference: image.reference.clone(),
                error,
            })?;
        if found.is_none() {
            return Err(PackError::ImageMismatch {
                reference: image.reference.clone(),
                expected: image.id.clone(),
            });
        }
        if let Some((repo, tag)) = repo_and_tag(&image.reference) {
            engine
                .tag_image(&image.id, &repo, &tag)
                .await
                .map_err(|error| PackError::Load {
                    reference: image.reference.clone(),
                    error,
                })?;
        }
        Ok(listed.size)
    }
}

/// The file's chunks, hashed on the way; the last chunk is sent only once the whole file's
/// checksum is `expected`, otherwise the stream ends in an error (and `changed` says so).
fn verified_stream(
    file: tokio::fs::File,
    expected: String,
    changed: tokio::sync::oneshot::Sender<bool>,
) -> crate::engine::ArchiveStream {
    use tokio::io::AsyncReadExt;
    struct State {
        file: tokio::fs::File,
        hasher: Sha256,
        held: Option<bytes::Bytes>,
        expected: String,
        changed: Option<tokio::sync::oneshot::Sender<bool>>,
        done: bool,
    }
    let state = State {
        file,
        hasher: Sha256::new(),
        held: None,
        expected,
        changed: Some(changed),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match s.file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            };
            if n == 0 {
                s.done = true;
                let sum = hex::encode(std::mem::take(&mut s.hasher).finalize());
                let same = sum == s.expected;
                if let Some(tx) = s.changed.take() {
                    let _ = tx.send(!same);
                }
                return match (same, s.held.take()) {
                    (true, Some(last)) => Some((Ok(last), s)),
                    (true, None) => None,
                    (false, _) => Some((
                        Err(std::io::Error::other(
                            "the archive changed while it was read",
                        )),
                        s,
                    )),
                };
            }
            buf.truncate(n);
            s.hasher.update(&buf);
            if let Some(prev) = s.held.replace(bytes::Bytes::from(buf)) {
                return Some((Ok(prev), s));
            }
        }
    }))
}

/// `registry/repo:tag[@digest]` → (`registry/repo`, `tag`); `None` without a tag.
pub fn repo_and_tag(reference: &str) -> Option<(String, String)> {
    let name = reference.split('@').next()?;
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let colon = name[slash..].rfind(':')? + slash;
    Some((name[..colon].to_owned(), name[colon + 1..].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(
            repo_and_tag("127.0.0.1:5000/panier-test/site:1@sha256:abc"),
            Some(("127.0.0.1:5000/panier-test/site".into(), "1".into()))
        );
        assert_eq!(
            repo_and_tag("docker.io/library/postgres:16.6-alpine"),
            Some(("docker.io/library/postgres".into(), "16.6-alpine".into()))
        );
        assert_eq!(repo_and_tag("127.0.0.1:5000/site@sha256:abc"), None);
    }
}
