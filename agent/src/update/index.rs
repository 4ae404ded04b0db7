//! The channel index: what a channel offers, signed with the release key.
//!
//! A channel is a folder on an HTTPS server (the project's, or a CHATONS mirror's) holding
//! `index.json`, its minisign signature `index.json.minisig`, and the bundles. The index:
//!
//! ```json
//! { "format": 1, "channel": "stable", "compatible": "panier-x86_64",
//!   "serial": 42, "published": "2026-12-01T10:00:00Z", "expires": "2026-12-15T10:00:00Z",
//!   "releases": [ { "version": "2026.12.0", "bundle": "panier-2026.12.0.raucb",
//!                   "size": 247000000, "sha256": "…64 hex…", "min_from": "2026.06.0",
//!                   "notes": { "fr": "…", "en": "…" } } ] }
//! ```
//!
//! [`accept`] is the whole trust decision, pure: the signature by the release key (so neither
//! a mirror nor the network can feed a bundle: the bundle's size and SHA-256 come from here),
//! then the format, the box's `compatible`, and two guards against being held back:
//! - **rollback**: `serial` must not be lower than the highest one this box accepted, so an
//!   older signed index (offering an older, vulnerable release) cannot be replayed; and a
//!   release is only ever offered when newer than the running system ([`plan`]);
//! - **freezing**: an index past its `expires` is refused, so a mirror or an attacker
//!   replaying the last index (hiding a newer release) is noticed within the index's
//!   validity; the box then says that it has had no valid index since its last good check
//!   (the `update` health check warns after [`STALE_AFTER_DAYS`]).
//!
//! [`plan`] picks what to offer: the newest release newer than the running system that can be
//! installed from it (`min_from`, for stepping stones: a box too old for the newest release
//! gets the newest one it can take, and the next check offers the rest).
//!
//! Unknown fields are ignored (the signature covers them anyway), so a later index can add
//! some; a new `format` number is refused, with a message saying so.

use super::version::OsVersion;
use crate::signing::{ReleaseKey, SignatureError};
use serde::{Deserialize, Serialize};

/// The index format this agent reads.
pub const FORMAT: u32 = 1;
/// The box's RAUC `compatible` (image/board/x86_64/rauc/system.conf).
pub const COMPATIBLE: &str = "panier-x86_64";
/// Days without a valid index after which the health check warns (freezing, or no network).
pub const STALE_AFTER_DAYS: i64 = 14;
/// The largest index read (a channel lists a handful of releases).
pub const MAX_INDEX_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notes {
    pub fr: String,
    pub en: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Release {
    #[schema(value_type = String)]
    pub version: OsVersion,
    /// The bundle's URL, absolute or relative to the index.
    pub bundle: String,
    pub size: u64,
    /// SHA-256 of the bundle, 64 lowercase hexadecimal digits.
    pub sha256: String,
    /// The oldest running version this release installs over.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub min_from: Option<OsVersion>,
    pub notes: Notes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Index {
    pub format: u32,
    pub channel: String,
    pub compatible: String,
    pub serial: u64,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339: the index is refused after this.
    pub expires: String,
    pub releases: Vec<Release>,
}

impl Index {
    /// When the index stops being valid (checked by [`accept`]).
    pub fn expires_at(&self) -> i64 {
        timestamp(&self.expires).unwrap_or(0)
    }
}

/// Why an index is refused.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the update index is not valid: {0}")]
    Invalid(String),
    #[error("the update index has format {found}; this version of Panier reads format {FORMAT}")]
    Format { found: u32 },
    #[error("the update index is for '{found}' machines, not for this box ({COMPATIBLE})")]
    Incompatible { found: String },
    #[error(
        "the update index expired on {expires}: the server may be holding back updates, or the box's clock is wrong"
    )]
    Expired { expires: String },
    #[error(
        "the update index is older (number {serial}) than one this box already accepted (number {seen}): refused, it could bring back an old version"
    )]
    Replayed { serial: u64, seen: u64 },
}

fn timestamp(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// The trust decision over a downloaded index and its signature (see the module doc).
/// `now` in Unix seconds; `seen_serial` the highest serial this box accepted before.
pub fn accept(
    key: &ReleaseKey,
    bytes: &[u8],
    signature: &str,
    now: i64,
    seen_serial: Option<u64>,
) -> Result<Index, IndexError> {
    key.verify("index.json", bytes, signature)?;
    // The format number first, so a newer layout is told as such, not as a parse error.
    let raw: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| IndexError::Invalid(format!("not JSON ({e})")))?;
    if let Some(found) = raw.get("format").and_then(|f| f.as_u64())
        && found != u64::from(FORMAT)
    {
        return Err(IndexError::Format {
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    let index: Index =
        serde_json::from_value(raw).map_err(|e| IndexError::Invalid(e.to_string()))?;
    if index.compatible != COMPATIBLE {
        return Err(IndexError::Incompatible {
            found: index.compatible,
        });
    }
    let published = timestamp(&index.published).ok_or_else(|| {
        IndexError::Invalid(format!("'published' is not a date: {}", index.published))
    })?;
    let expires = timestamp(&index.expires).ok_or_else(|| {
        IndexError::Invalid(format!("'expires' is not a date: {}", index.expires))
    })?;
    if expires <= published {
        return Err(IndexError::Invalid(
            "'expires' is not after 'published'".into(),
        ));
    }
    if now >= expires {
        return Err(IndexError::Expired {
            expires: index.expires,
        });
    }
    if let Some(seen) = seen_serial
        && index.serial < seen
    {
        return Err(IndexError::Replayed {
            serial: index.serial,
            seen,
        });
    }
    for r in &index.releases {
        check_release(r)?;
    }
    Ok(index)
}

fn check_release(r: &Release) -> Result<(), IndexError> {
    let bad = |what: String| {
        Err(IndexError::Invalid(format!(
            "release {}: {what}",
            r.version
        )))
    };
    if r.size == 0 {
        return bad("its size is zero".into());
    }
    if r.sha256.len() != 64
        || !r
            .sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return bad(format!(
            "'{}' is not a SHA-256 in lowercase hexadecimal",
            r.sha256
        ));
    }
    // Absolute bundle URLs must be HTTPS; a relative one follows the index's.
    let lower = r.bundle.to_ascii_lowercase();
    if r.bundle.is_empty()
        || r.bundle.chars().any(|c| c.is_control() || c == ' ')
        || (lower.contains("://") && !lower.starts_with("https://"))
        || r.bundle.starts_with("//")
    {
        return bad(format!(
            "the bundle address '{}' is not an HTTPS address",
            r.bundle
        ));
    }
    Ok(())
}

/// What the channel offers this box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Offer {
    /// Nothing newer than the running system.
    UpToDate,
    /// The release to install next (the newest one this version can take).
    Available {
        release: Release,
        /// Whether newer releases exist that need this one first (a stepping stone).
        stepping_stone: bool,
    },
    /// Newer releases exist, but none installs over this version.
    Blocked {
        #[schema(value_type = String)]
        latest: OsVersion,
        #[schema(value_type = String)]
        min_from: OsVersion,
    },
}

/// What to offer a box running `running` (see the module doc).
pub fn plan(running: &OsVersion, index: &Index) -> Offer {
    let mut newer: Vec<&Release> = index
        .releases
        .iter()
        .filter(|r| r.version > *running)
        .collect();
    newer.sort_by(|a, b| b.version.cmp(&a.version));
    let Some(latest) = newer.first() else {
        return Offer::UpToDate;
    };
    match newer
        .iter()
        .find(|r| r.min_from.as_ref().is_none_or(|m| m <= running))
    {
        Some(r) => Offer::Available {
            release: (*r).clone(),
            stepping_stone: r.version < latest.version,
        },
        None => Offer::Blocked {
            latest: latest.version.clone(),
            min_from: newer
                .iter()
                .filter_map(|r| r.min_from.clone())
                .min()
                .unwrap_or_else(|| latest.version.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> OsVersion {
        OsVersion::parse(s).unwrap()
    }

    fn release(version: &str, min_from: Option<&str>) -> Release {
        Release {
            version: v(version),
            bundle: format!("panier-{version}.raucb"),
            size: 1000,
            sha256: "ab".repeat(32),
            min_from: min_from.map(v),
            notes: Notes {
                fr: "notes".into(),
                en: "notes".into(),
            },
        }
    }

    fn index(releases: Vec<Release>) -> Index {
        Index {
            format: 1,
            channel: "stable".into(),
            compatible: COMPATIBLE.into(),
            serial: 7,
            published: "2026-12-01T00:00:00Z".into(),
            expires: "2026-12-15T00:00:00Z".into(),
            releases,
        }
    }

    #[test]
    fn the_newest_reachable_release_is_offered_with_stepping_stones() {
        let i = index(vec![
            release("2026.06.0", None),
            release("2026.12.0", Some("2026.06.0")),
            release("2026.09.0", Some("2026.01.0")),
        ]);
        let offer = |r: &str| match plan(&v(r), &i) {
            Offer::Available {
                release,
                stepping_stone,
            } => Some((release.version.to_string(), stepping_stone)),
            _ => None,
        };
        assert_eq!(plan(&v("2026.12.0"), &i), Offer::UpToDate);
        assert_eq!(
            plan(&v("2027.1"), &i),
            Offer::UpToDate,
            "never an older version"
        );
        assert_eq!(offer("2026.06.0"), Some(("2026.12.0".into(), false)));
        assert_eq!(offer("2026.01.0"), Some(("2026.09.0".into(), true)));
        let far = index(vec![release("2026.12.0", Some("2026.06.0"))]);
        assert_eq!(
            plan(&v("2025.1"), &far),
            Offer::Blocked {
                latest: v("2026.12.0"),
                min_from: v("2026.06.0")
            }
        );
    }

    /// A throwaway release key and signatures made by Debian's `minisign`, the signer the
    /// project's release tooling uses.
    struct Signer {
        dir: tempfile::TempDir,
        key: ReleaseKey,
    }

    impl Signer {
        fn new() -> Signer {
            let dir = tempfile::tempdir().unwrap();
            let status = std::process::Command::new("minisign")
                .args(["-G", "-W", "-f", "-p"])
                .arg(dir.path().join("k.pub"))
                .arg("-s")
                .arg(dir.path().join("k.key"))
                .stdout(std::process::Stdio::null())
                .status()
                .expect("Debian's minisign is installed (tools/install-deps.sh)");
            assert!(status.success());
            let key = ReleaseKey::load(&dir.path().join("k.pub")).unwrap();
            Signer { dir, key }
        }

        fn sign(&self, bytes: &[u8]) -> String {
            let file = self.dir.path().join("index.json");
            std::fs::write(&file, bytes).unwrap();
            let status = std::process::Command::new("minisign")
                .args(["-S", "-s"])
                .arg(self.dir.path().join("k.key"))
                .arg("-m")
                .arg(&file)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            std::fs::read_to_string(self.dir.path().join("index.json.minisig")).unwrap()
        }
    }

    fn json(i: &Index) -> Vec<u8> {
        serde_json::to_vec_pretty(i).unwrap()
    }

    #[test]
    fn an_index_is_trusted_only_signed_current_compatible_and_not_older() {
        let signer = Signer::new();
        let now = timestamp("2026-12-02T00:00:00Z").unwrap();
        let good = index(vec![release("2026.12.0", None)]);
        let bytes = json(&good);
        let sig = signer.sign(&bytes);
        assert_eq!(
            accept(&signer.key, &bytes, &sig, now, Some(7)).unwrap(),
            good
        );

        let mut tampered = bytes.clone();
        let at = tampered.windows(4).position(|w| w == b"1000").unwrap();
        tampered[at] = b'9';
        let e = accept(&signer.key, &tampered, &sig, now, None).unwrap_err();
        assert!(
            matches!(e, IndexError::Signature(SignatureError::Mismatch { .. })),
            "{e}"
        );

        let other = Signer::new();
        let e = accept(&other.key, &bytes, &sig, now, None).unwrap_err();
        assert!(
            matches!(e, IndexError::Signature(SignatureError::WrongKey { .. })),
            "{e}"
        );

        let later = timestamp("2026-12-15T00:00:01Z").unwrap();
        let e = accept(&signer.key, &bytes, &sig, later, None).unwrap_err();
        assert!(matches!(e, IndexError::Expired { .. }), "{e}");

        let e = accept(&signer.key, &bytes, &sig, now, Some(8)).unwrap_err();
        assert!(
            matches!(e, IndexError::Replayed { serial: 7, seen: 8 }),
            "{e}"
        );

        let mut foreign = good.clone();
        foreign.compatible = "someone-else".into();
        let b = json(&foreign);
        let e = accept(&signer.key, &b, &signer.sign(&b), now, None).unwrap_err();
        assert!(matches!(e, IndexError::Incompatible { .. }), "{e}");

        let mut future = serde_json::to_value(&good).unwrap();
        future["format"] = 2.into();
        future["releases"] = "a new layout".into();
        let b = serde_json::to_vec(&future).unwrap();
        let e = accept(&signer.key, &b, &signer.sign(&b), now, None).unwrap_err();
        assert!(matches!(e, IndexError::Format { found: 2 }), "{e}");

        let mut extra = serde_json::to_value(&good).unwrap();
        extra["mirror_note"] = "fields a later index adds are ignored".into();
        let b = serde_json::to_vec(&extra).unwrap();
        assert!(accept(&signer.key, &b, &signer.sign(&b), now, None).is_ok());
    }

    #[test]
    fn releases_with_bad_fields_are_refused() {
        let mut r = release("1.0", None);
        r.bundle = "http://mirror.example/b.raucb".into();
        assert!(check_release(&r).is_err());
        r.bundle = "//mirror.example/b.raucb".into();
        assert!(check_release(&r).is_err());
        r.bundle = "https://mirror.example/b.raucb".into();
        assert!(check_release(&r).is_ok());
        r.sha256 = "AB".repeat(32);
        assert!(check_release(&r).is_err());
        let mut r = release("1.0", None);
        r.size = 0;
        assert!(check_release(&r).is_err());
    }
}
