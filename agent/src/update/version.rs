//! The OS version: dotted numbers (`2026.12.0`), compared number by number, a missing part
//! counting as zero (`2026.12` = `2026.12.0`). The image says its own version in
//! [`VERSION_FILE`] (written by `post-build.sh` from `PANIER_VERSION`).

use std::cmp::Ordering;
use std::fmt;

/// Where the running system says its version (the read-only root).
pub const VERSION_FILE: &str = "/usr/share/panier/os-version";

#[derive(Debug, Clone, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OsVersion {
    parts: Vec<u32>,
    text: String,
}

impl OsVersion {
    /// One to four dot-separated numbers of at most six digits each.
    pub fn parse(text: &str) -> Option<OsVersion> {
        let text = text.trim();
        let parts: Vec<u32> = text
            .split('.')
            .map(|p| {
                (!p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect::<Option<_>>()?;
        (1..=4).contains(&parts.len()).then(|| OsVersion {
            parts,
            text: text.to_owned(),
        })
    }

    /// The running system's version, or `None` when this is not a Panier system.
    pub fn running(file: &std::path::Path) -> Option<OsVersion> {
        OsVersion::parse(&std::fs::read_to_string(file).ok()?)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn part(&self, i: usize) -> u32 {
        self.parts.get(i).copied().unwrap_or(0)
    }
}

impl Ord for OsVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (0..4)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for OsVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for OsVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl fmt::Display for OsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for OsVersion {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        OsVersion::parse(&s).ok_or_else(|| format!("'{s}' is not a version like 2026.12.0"))
    }
}

impl From<OsVersion> for String {
    fn from(v: OsVersion) -> String {
        v.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> OsVersion {
        OsVersion::parse(s).unwrap()
    }

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(v("2026.12.0") > v("2026.9.3"));
        assert!(v("2026.12.10") > v("2026.12.9"));
        assert_eq!(v("2026.12"), v("2026.12.0"));
        assert!(v("0.0.2") > v("0.0.1"));
        for bad in [
            "",
            "2026.",
            ".1",
            "v1",
            "1.2.3.4.5",
            "1.-2",
            "1234567",
            "test-101010",
        ] {
            assert!(OsVersion::parse(bad).is_none(), "{bad}");
        }
    }
}
