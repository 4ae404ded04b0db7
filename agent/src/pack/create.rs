//! Making a pack, on a machine with a container engine that can reach the registries (the
//! workshop's): each service's catalog folder is copied, each of its images pulled (by
//! digest when the manifest pins one, and checked to be that digest) and saved as an
//! archive, every file read back for its checksum, then the index written and signed.
//!
//! The output folder must be new or empty: a pack is never mixed with other files. Files are
//! written under a `.part` name and renamed once complete; the index and its signature come
//! last, so a folder without `pack.json.minisig` is an unfinished pack and no box takes it.

use super::PackError;
use super::index::{self, Index, PackFile, PackImage, PackService};
use crate::catalog::{AppId, Catalog};
use crate::engine::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// What to pack and how to sign it.
pub struct Request<'a> {
    pub catalog: &'a Catalog,
    pub services: &'a [AppId],
    pub out: &'a Path,
    /// The secret key file's content (minisign format).
    pub secret_key: &'a str,
    pub password: Option<String>,
    pub created_by: String,
    /// Take the images the engine already holds instead of pulling them (a workshop's own
    /// builds, test images); a pinned digest is still checked.
    pub local: bool,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> PackError + '_ {
    move |e| PackError::Write {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Size and SHA-256 of a file, read back from where it was written.
fn checksum(out: &Path, rel: &str) -> Result<PackFile, PackError> {
    let path = out.join(rel);
    let mut file = std::fs::File::open(&path).map_err(write_err(&path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(write_err(&path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(PackFile {
        path: rel.to_owned(),
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Makes the pack; `say` gets one line per step (for the terminal).
pub async fn create(
    engine: &dyn Engine,
    req: Request<'_>,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<Index, PackError> {
    let out = req.out;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(write_err(out))?
            .next()
            .is_some()
    {
        return Err(PackError::OutNotEmpty {
            dir: out.to_owned(),
        });
    }
    // Fails before anything is pulled when the key cannot sign.
    crate::signing::keyring::public_of(req.secret_key, req.password.clone())
        .map_err(PackError::Signature)?;
    let mut services = Vec::new();
    let mut wanted: BTreeMap<String, ()> = BTreeMap::new();
    for id in req.services {
        let entry = req.catalog.get(id).ok_or_else(|| PackError::NotInPack {
            app: id.to_string(),
            dir: req.catalog.dir.clone(),
        })?;
        let m = &entry.manifest;
        let mut images: Vec<String> = m.containers.iter().map(|c| c.image.clone()).collect();
        images.sort();
        images.dedup();
        for i in &images {
            wanted.insert(i.clone(), ());
        }
        services.push(PackService {
            id: id.clone(),
            version: m.version.clone(),
            images,
        });
    }
    std::fs::create_dir_all(out.join("images")).map_err(write_err(out))?;
    let mut files = Vec::new();
    for s in &services {
        let from = req.catalog.dir.join(s.id.as_str());
        let to = out.join("services").join(s.id.as_str());
        std::fs::create_dir_all(&to).map_err(write_err(&to))?;
        for name in index::SERVICE_FILES {
            std::fs::copy(from.join(name), to.join(name)).map_err(write_err(&to.join(name)))?;
            files.push(checksum(out, &index::service_file(&s.id, name))?);
        }
        say(format!("{} {}: catalog folder copied", s.id, s.version));
    }
    let mut images = Vec::new();
    for reference in wanted.keys() {
        say(format!("{reference}: pulling"));
        let pulled = |error| PackError::Pull {
            reference: reference.clone(),
            error,
        };
        if !req.local {
            engine.pull(reference, &|_| {}).await.map_err(pulled)?;
        }
        let info = engine
            .image_info(reference)
            .await
            .map_err(pulled)?
            .ok_or_else(|| PackError::ImageMismatch {
                reference: reference.clone(),
                expected: "the image just pulled".into(),
            })?;
        let repo = reference.split('@').next().unwrap_or(reference);
        let repo = super::open::repo_and_tag(repo).map_or(repo.to_owned(), |(r, _)| r);
        let digest = info
            .repo_digests
            .iter()
            .find_map(|d| d.strip_prefix(&format!("{repo}@")).map(str::to_owned));
        if let Some(pinned) = reference.split('@').nth(1)
            && digest.as_deref() != Some(pinned)
        {
            return Err(PackError::ImageMismatch {
                reference: reference.clone(),
                expected: pinned.to_owned(),
            });
        }
        let rel = index::image_file(&info.id);
        let part = out.join(format!("{rel}.part"));
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(write_err(&part))?;
        // Saved by content id: the archive then names no tag, and the box tags it itself
        // with the manifest's reference after checking the id.
        let bytes = engine
            .save_image(&info.id, &mut file)
            .await
            .map_err(pulled)?;
        file.sync_all().await.map_err(write_err(&part))?;
        drop(file);
        std::fs::rename(&part, out.join(&rel)).map_err(write_err(&part))?;
        let out_owned = out.to_owned();
        let rel_owned = rel.clone();
        let listed = tokio::task::spawn_blocking(move || checksum(&out_owned, &rel_owned))
            .await
            .expect("checksum task")?;
        say(format!(
            "{reference}: {} MB saved ({})",
            bytes / 1_000_000,
            info.id
        ));
        files.push(listed);
        images.push(PackImage {
            reference: reference.clone(),
            digest,
            id: info.id,
            file: rel,
        });
    }
    let index = Index {
        format: index::FORMAT,
        created_at: jiff::Timestamp::now().to_string(),
        created_by: req.created_by,
        services,
        images,
        files,
    };
    let json = serde_json::to_vec_pretty(&index).expect("the index serializes");
    // The index checks itself as a box will before it is signed.
    Index::parse(&json).map_err(|p| PackError::BadIndex {
        dir: out.to_owned(),
        problem: p.0,
    })?;
    let comment = format!(
        "panier pack {} made {}",
        index
            .services
            .iter()
            .map(|s| format!("{}={}", s.id, s.version))
            .collect::<Vec<_>>()
            .join(","),
        index.created_at
    );
    let signature = crate::signing::keyring::sign(req.secret_key, req.password, &json, &comment)
        .map_err(PackError::Signature)?;
    write_atomic(&out.join(index::INDEX), &json)?;
    write_atomic(&out.join(index::SIGNATURE), signature.as_bytes())?;
    say(format!(
        "pack written: {} service(s), {} image(s), {} MB",
        index.services.len(),
        index.images.len(),
        index.images_bytes() / 1_000_000
    ));
    Ok(index)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PackError> {
    crate::fsutil::write_atomic(path, bytes).map_err(write_err(path))
}
