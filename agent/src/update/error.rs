//! What can go wrong with OS updates: one error enum, a stable key per variant
//! (`error.<key>` in `i18n/*/update.toml`) and its words in the admin's language.

use super::fetch::FetchError;
use super::index::IndexError;
use super::os::OsError;
use crate::i18n::{Messages, messages};
use crate::jobs::JobError;
use crate::names::Language;
use crate::signing::SignatureError;
use crate::store::{Said, StoreError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("this machine is not a Panier system ({file} is missing): there is nothing to update")]
    NotPanier { file: PathBuf },
    #[error("no update channel is set (the configuration's [update] channel, or the Update page)")]
    NoChannel,
    #[error("the update channel could not be checked: {0}")]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Key(#[from] SignatureError),
    #[error("there is no update to install")]
    NothingToInstall,
    #[error("the update offered is {offered}, not {asked}: check again")]
    OfferChanged { offered: String, asked: String },
    #[error("the box is busy with another job ({kind}, #{id}); wait for it to finish")]
    Busy { kind: String, id: i64 },
    #[error("the data partition has {free_mb} MB free; the update needs {needed_mb} MB")]
    NoSpace { free_mb: u64, needed_mb: u64 },
    #[error("the bundle has {found} bytes; the signed index says {expected}")]
    SizeMismatch { expected: u64, found: u64 },
    #[error(
        "the bundle's SHA-256 is {found}; the signed index says {expected}: it was changed or damaged, and is refused"
    )]
    ChecksumMismatch { expected: String, found: String },
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("no update is waiting for a restart")]
    NotInstalled,
    #[error("{0} is not an hour between 0 and 23")]
    BadHour(u8),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<JobError> for UpdateError {
    fn from(e: JobError) -> UpdateError {
        match e {
            JobError::Busy { kind, id, .. } => UpdateError::Busy { kind, id },
            JobError::Store(e) => UpdateError::Store(e),
        }
    }
}

impl UpdateError {
    /// The stable key of this error.
    pub fn key(&self) -> &'static str {
        match self {
            UpdateError::NotPanier { .. } => "update_not_panier",
            UpdateError::NoChannel => "update_no_channel",
            UpdateError::Fetch(FetchError::NotHttps(_)) => "update_not_https",
            UpdateError::Fetch(FetchError::Ca { .. }) => "update_ca_unreadable",
            UpdateError::Fetch(FetchError::Status { .. }) => "update_http_status",
            UpdateError::Fetch(FetchError::TooLarge { .. }) => "update_too_large",
            UpdateError::Fetch(_) => "update_unreachable",
            UpdateError::Index(IndexError::Signature(e)) | UpdateError::Key(e) => e.key(),
            UpdateError::Index(IndexError::Invalid(_)) => "update_index_invalid",
            UpdateError::Index(IndexError::Format { .. }) => "update_index_format",
            UpdateError::Index(IndexError::Incompatible { .. }) => "update_index_incompatible",
            UpdateError::Index(IndexError::Expired { .. }) => "update_index_expired",
            UpdateError::Index(IndexError::Replayed { .. }) => "update_index_replayed",
            UpdateError::NothingToInstall => "update_nothing",
            UpdateError::OfferChanged { .. } => "update_offer_changed",
            UpdateError::Busy { .. } => "update_busy",
            UpdateError::NoSpace { .. } => "update_no_space",
            UpdateError::SizeMismatch { .. } => "update_size_mismatch",
            UpdateError::ChecksumMismatch { .. } => "update_checksum_mismatch",
            UpdateError::Os(OsError::NotASlot) => "update_not_a_slot",
            UpdateError::Os(OsError::Reboot(_)) => "update_restart_failed",
            UpdateError::Os(_) => "update_install_failed",
            UpdateError::NotInstalled => "update_not_installed",
            UpdateError::BadHour(_) => "update_bad_hour",
            UpdateError::Io { .. } | UpdateError::Store(_) => "internal",
        }
    }

    /// The error in the language of `t`.
    pub fn said(&self, t: &Messages) -> String {
        let text = |k: &str, args: &[(&str, &str)]| t.fmt(&format!("error.{k}"), args);
        let key = self.key();
        match self {
            UpdateError::Index(IndexError::Signature(e)) | UpdateError::Key(e) => e.said(t),
            UpdateError::NotPanier { file } => text(key, &[("file", &file.display().to_string())]),
            UpdateError::Fetch(e) => {
                let (url, detail) = match e {
                    FetchError::NotHttps(u) => (u.clone(), String::new()),
                    FetchError::Ca { path, message } => {
                        (path.display().to_string(), message.clone())
                    }
                    FetchError::Unreachable { url, message } => (url.clone(), message.clone()),
                    FetchError::Status { url, status } => (url.clone(), status.to_string()),
                    FetchError::TooLarge { url, limit } => (url.clone(), limit.to_string()),
                    FetchError::Stalled { url } => (url.clone(), String::new()),
                    FetchError::Write { path, source } => {
                        (path.display().to_string(), source.to_string())
                    }
                };
                text(key, &[("url", &url), ("detail", &detail)])
            }
            UpdateError::Index(e) => {
                let (a, b) = match e {
                    IndexError::Invalid(p) => (p.clone(), String::new()),
                    IndexError::Format { found } => {
                        (found.to_string(), super::index::FORMAT.to_string())
                    }
                    IndexError::Incompatible { found } => {
                        (found.clone(), super::index::COMPATIBLE.into())
                    }
                    IndexError::Expired { expires } => (expires.clone(), String::new()),
                    IndexError::Replayed { serial, seen } => (serial.to_string(), seen.to_string()),
                    IndexError::Signature(_) => unreachable!("said above"),
                };
                text(key, &[("a", &a), ("b", &b)])
            }
            UpdateError::OfferChanged { offered, asked } => {
                text(key, &[("offered", offered), ("asked", asked)])
            }
            UpdateError::Busy { kind, id } => text(
                key,
                &[
                    ("job", t.get(&format!("update.job.{kind}"))),
                    ("id", &id.to_string()),
                ],
            ),
            UpdateError::NoSpace { free_mb, needed_mb } => text(
                key,
                &[
                    ("free", &free_mb.to_string()),
                    ("needed", &needed_mb.to_string()),
                ],
            ),
            UpdateError::SizeMismatch { expected, found } => text(
                key,
                &[
                    ("expected", &expected.to_string()),
                    ("found", &found.to_string()),
                ],
            ),
            UpdateError::ChecksumMismatch { expected, found } => {
                text(key, &[("expected", expected), ("found", found)])
            }
            UpdateError::Os(e) => text(key, &[("detail", &e.to_string())]),
            UpdateError::BadHour(h) => text(key, &[("hour", &h.to_string())]),
            UpdateError::NoChannel | UpdateError::NothingToInstall | UpdateError::NotInstalled => {
                text(key, &[])
            }
            UpdateError::Io { .. } | UpdateError::Store(_) => t.get("error.internal").to_owned(),
        }
    }

    /// The error in both languages, to keep with a check or an attempt.
    pub fn kept(&self) -> Said {
        Said {
            key: self.key().to_owned(),
            en: self.said(messages(Language::En)),
            fr: self.said(messages(Language::Fr)),
        }
    }
}
