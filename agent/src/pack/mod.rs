//! Image packs: services' container images on a USB stick (or any folder), signed, so that
//! a box with no internet installs and updates services.
//!
//! Owns: the pack format (`index`), making a pack on a workshop's machine (`create`:
//! `panier pack create ID… --out DIR`), opening and verifying one and loading its images
//! (`open`), the keys a box trusts for packs (the image's `/usr/share/panier/keys/packs/*.pub`
//! and the keys enrolled in the store: `trusted_keys`), the packs found on plugged USB disks
//! (`usb`), and the record of what was imported (`pack_services`: each service's packed
//! catalog entry; `pack_images`: reference → content id of each image loaded).
//!
//! Signing: minisign's format (Ed25519), `crate::signing::keyring`. A workshop makes its key pair
//! with `panier pack key new FILE` (or `minisign -G`); a box trusts it once an admin enrols
//! the public key (Packs page, `panier pack key add`), or when the workshop's install stick
//! pre-installs services on it (the key that signed the stick's pack is enrolled then).
//!
//! Invariants: nothing from a pack is used before it is checked — the index against its
//! signature, every file against the index, every image archive before and while it loads,
//! every loaded image against its content id; a refused archive leaves nothing in the
//! engine. Imports and installs from a pack are jobs; `apps` uses [`OpenPack`] for an
//! install or update from a pack and resolves references through `pack_images` (an image
//! loaded from an archive has no registry digest in the engine, so `name@sha256:…` would not
//! find it).
//! Limits: a pack's manifests are validated one by one, not against the box's whole catalog
//! (a clash of fixed host ports with another service shows at install); images are for the
//! box's architecture as pulled on the workshop's machine (x86-64 for both).

pub mod create;
pub mod index;
pub mod open;
pub mod usb;
mod view;
pub use view::{ImportedService, PacksView, StickPack};

pub use index::{Index, PackImage, PackService};
pub use open::OpenPack;

use crate::catalog::Entry;
use crate::engine::settings::EngineConfigFile;
use crate::engine::{Engine, EngineError};
use crate::signing::keyring::{Keyring, KeyringError, Origin, Purpose, TrustedKey};
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{dir} holds no pack (no pack.json)")]
    NotAPack { dir: PathBuf },
    #[error("cannot read {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("the pack's signature is refused: {0}")]
    Signature(KeyringError),
    #[error("the pack in {dir} is not valid: {problem}")]
    BadIndex { dir: PathBuf, problem: String },
    #[error(
        "{file} does not match the pack's signed index ({problem}): the file is damaged or was changed; nothing was loaded from it"
    )]
    Tampered { file: PathBuf, problem: String },
    #[error("the service '{app}' is not in the pack {dir}")]
    NotInPack { app: String, dir: PathBuf },
    #[error("the manifest of '{app}' in the pack is not valid: {}", problems.join("; "))]
    BadManifest { app: String, problems: Vec<String> },
    #[error("loading {reference} into the container engine failed: {error}")]
    Load {
        reference: String,
        error: EngineError,
    },
    #[error("{reference} is not the image the pack names ({expected})")]
    ImageMismatch { reference: String, expected: String },
    #[error("{reference}: {error}")]
    Pull {
        reference: String,
        error: EngineError,
    },
    #[error("{dir} is not empty: a pack is written into a new or empty folder")]
    OutNotEmpty { dir: PathBuf },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("the key {0} is already trusted")]
    KeyExists(String),
    #[error("there is no enrolled key {0}")]
    NoSuchKey(String),
    #[error("give the key a name (1 to 60 characters)")]
    BadKeyName,
    #[error("'{0}' is not an http(s) address of a registry mirror")]
    BadMirror(String),
    #[error("the container engine's configuration could not be applied: {0}")]
    EngineConfig(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PackError {
    /// A stable key for the API and the message catalog (`error.<key>`).
    pub fn key(&self) -> &'static str {
        match self {
            PackError::NotAPack { .. } => "pack_not_found",
            PackError::Unreadable { .. } => "pack_unreadable",
            PackError::Signature(e) => e.key(),
            PackError::BadIndex { .. } => "pack_invalid",
            PackError::Tampered { .. } => "pack_tampered",
            PackError::NotInPack { .. } => "pack_lacks_service",
            PackError::BadManifest { .. } => "pack_manifest_invalid",
            PackError::Load { .. } => "pack_load_failed",
            PackError::ImageMismatch { .. } => "pack_image_mismatch",
            PackError::Pull { .. } => "pack_pull_failed",
            PackError::OutNotEmpty { .. } => "pack_out_not_empty",
            PackError::Write { .. } => "pack_write_failed",
            PackError::KeyExists(_) => "pack_key_exists",
            PackError::NoSuchKey(_) => "pack_key_unknown",
            PackError::BadKeyName => "pack_key_name_invalid",
            PackError::BadMirror(_) => "registry_mirror_invalid",
            PackError::EngineConfig(_) => "engine_config_failed",
            PackError::Store(_) => "internal",
        }
    }

    /// The error in the language of `t`: the catalog's sentence, then the detail as it came
    /// (a path, a checksum, the engine's words are not ours to translate).
    pub fn describe(&self, t: &crate::i18n::Messages) -> String {
        let detail = self.to_string();
        let said = t.error(self.key(), &detail);
        if said == detail {
            detail
        } else {
            format!("{said} ({detail})")
        }
    }
}

/// A pack service as the box recorded it at import: its packed catalog entry.
#[derive(Debug, Clone)]
pub struct Imported {
    pub entry: Entry,
    /// The pack's digest and who signed it.
    pub pack: String,
    pub signer: String,
    pub imported_at: i64,
}

/// The packs handle: trusted keys, imports, the record of what packs brought.
#[derive(Clone)]
pub struct Packs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    engine: Arc<dyn Engine>,
    keys_dir: PathBuf,
    /// The project's release key (trusted for packs too).
    release_key: PathBuf,
    engine_config: Option<EngineConfigFile>,
}

/// The store's setting for the registry mirror.
const MIRROR: &str = "registry_mirror";

impl Packs {
    /// `keys_dir`: where the image's keys are (`<keys_dir>/packs/*.pub`); `engine_config`:
    /// the engine's configuration file that receives the registry mirror.
    pub fn new(
        store: Store,
        engine: Arc<dyn Engine>,
        keys_dir: PathBuf,
        release_key: PathBuf,
        engine_config: Option<EngineConfigFile>,
    ) -> Packs {
        Packs {
            inner: Arc::new(Inner {
                store,
                engine,
                keys_dir,
                release_key,
                engine_config,
            }),
        }
    }

    /// The registry mirror the engine is told to use.
    pub fn registry_mirror(&self) -> Result<Option<String>, PackError> {
        Ok(self.inner.store.setting(MIRROR)?.filter(|m| !m.is_empty()))
    }

    /// Sets (or, with an empty `url`, clears) the registry mirror and applies it, audited.
    pub fn set_registry_mirror(&self, actor: &str, url: &str) -> Result<Option<String>, PackError> {
        let result = (|| {
            let mirror = if url.trim().is_empty() {
                None
            } else {
                Some(crate::engine::settings::parse_mirror(url).map_err(PackError::BadMirror)?)
            };
            self.inner
                .store
                .set_setting(MIRROR, mirror.as_deref().unwrap_or(""))?;
            self.apply_engine_config()?;
            Ok(mirror)
        })();
        self.audit(actor, "registry_mirror_set", url.trim(), &result);
        result
    }

    /// Writes the engine's configuration from the store when it differs (at start and after
    /// a change; nothing without a configured file).
    pub fn apply_engine_config(&self) -> Result<(), PackError> {
        let Some(file) = &self.inner.engine_config else {
            return Ok(());
        };
        let mirror = self.registry_mirror()?;
        file.apply(mirror.as_deref())
            .map(|_| ())
            .map_err(PackError::EngineConfig)
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.inner.engine
    }

    /// The keys trusted for packs: the image's (the release key among them), then the
    /// enrolled ones.
    pub fn keyring(&self) -> Result<Keyring, PackError> {
        let enrolled = self.inner.store.trusted_keys(Purpose::Packs)?;
        Ok(Keyring::load(
            &self.inner.keys_dir,
            Purpose::Packs,
            Some(&self.inner.release_key),
            enrolled,
        ))
    }

    /// Opens and verifies the pack in `dir` (blocking: small reads).
    pub fn open(&self, dir: &Path) -> Result<OpenPack, PackError> {
        open::open(dir, &self.keyring()?)
    }

    /// Enrols a public key (a `.pub` file's content or its base64 line) for packs, audited.
    pub fn enrol(&self, actor: &str, name: &str, public: &str) -> Result<TrustedKey, PackError> {
        let result = self.enrol_inner(actor, name, public);
        self.audit(actor, "pack_key_add", name, &result);
        result
    }

    fn enrol_inner(&self, actor: &str, name: &str, public: &str) -> Result<TrustedKey, PackError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(PackError::BadKeyName);
        }
        let key =
            crate::signing::keyring::PublicKey::parse(public).map_err(PackError::Signature)?;
        if self.keyring()?.keys.iter().any(|k| k.key.id == key.id) {
            return Err(PackError::KeyExists(key.id.to_string()));
        }
        let trusted = TrustedKey {
            key,
            name: name.to_owned(),
            origin: Origin::Enrolled {
                by: actor.to_owned(),
                at: crate::store::now(),
            },
        };
        self.inner.store.add_trusted_key(Purpose::Packs, &trusted)?;
        log::info!("pack key {} ({name}) enrolled by {actor}", trusted.key.id);
        Ok(trusted)
    }

    /// Removes an enrolled key (the image's keys cannot be removed), audited.
    pub fn remove_key(&self, actor: &str, id: &str) -> Result<(), PackError> {
        let result = self
            .inner
            .store
            .remove_trusted_key(Purpose::Packs, id)
            .map_err(PackError::from)
            .and_then(|removed| {
                if removed {
                    Ok(())
                } else {
                    Err(PackError::NoSuchKey(id.to_owned()))
                }
            });
        self.audit(actor, "pack_key_remove", id, &result);
        result
    }

    /// Services brought by imported packs.
    pub fn imported(&self) -> Result<Vec<Imported>, PackError> {
        Ok(self.inner.store.pack_services()?)
    }

    /// Records a service's packed entry (the newest version wins) after its images loaded.
    pub fn record_service(&self, pack: &OpenPack, entry: &Entry) -> Result<(), PackError> {
        let older = self
            .inner
            .store
            .pack_services()?
            .into_iter()
            .find(|i| i.entry.manifest.id == entry.manifest.id)
            .is_some_and(|i| {
                index::version_cmp(&i.entry.manifest.version, &entry.manifest.version).is_gt()
            });
        if !older {
            self.inner.store.put_pack_service(
                entry,
                &pack.digest,
                pack.signer.key.key.id.as_str(),
            )?;
        }
        Ok(())
    }

    /// Loads one image from `pack` unless the engine already holds its content id, and
    /// records its reference. Returns the bytes loaded (0 when it was there).
    pub async fn load(&self, pack: &OpenPack, image: &PackImage) -> Result<u64, PackError> {
        let present = self
            .inner
            .engine
            .image_info(&image.id)
            .await
            .map_err(|error| PackError::Load {
                reference: image.reference.clone(),
                error,
            })?
            .is_some();
        let bytes = if present {
            // Same content id: the same image, whichever archive it came from.
            if let Some((repo, tag)) = open::repo_and_tag(&image.reference) {
                let _ = self.inner.engine.tag_image(&image.id, &repo, &tag).await;
            }
            0
        } else {
            pack.load_image(self.inner.engine.as_ref(), image).await?
        };
        self.inner
            .store
            .put_pack_image(&image.reference, &image.id, &pack.digest)?;
        Ok(bytes)
    }

    /// The content id a manifest reference resolves to through the packs, when the engine
    /// does not know the reference itself.
    pub fn resolve(&self, reference: &str) -> Result<Option<String>, StoreError> {
        self.inner.store.pack_image(reference)
    }

    fn audit<T>(&self, actor: &str, action: &'static str, target: &str, r: &Result<T, PackError>) {
        let (result, detail) = match r {
            Ok(_) => ("ok", String::new()),
            Err(e) => ("refused", e.to_string()),
        };
        let entry = crate::store::NewAudit {
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            result,
            detail,
        };
        if let Err(e) = self.inner.store.record(&entry) {
            log::error!("{e}");
        }
    }

    /// Records a refused action on a pack (one that failed before its job) in the audit log.
    pub fn audit_refusal(&self, actor: &str, action: &'static str, target: &str, e: &PackError) {
        let entry = crate::store::NewAudit {
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            result: "refused",
            detail: e.to_string(),
        };
        if let Err(e) = self.inner.store.record(&entry) {
            log::error!("{e}");
        }
    }
}
