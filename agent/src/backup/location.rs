//! Where a backup target is ([`Location`]) and the checks that keep its fields from reaching a
//! program as anything but data.
//!
//! Every field is checked against what it may hold, not against a list of dangerous
//! characters: restic splits its `sftp.command` option on spaces *and backslashes*, so an
//! SFTP host such as `nas\-oProxyCommand=…` used to reach ssh as an extra option and run a
//! command as root at every backup. Now:
//! - an SFTP user is 1 to 32 of `A-Z a-z 0-9 . _ -` (not starting with `-`);
//! - an SFTP host is a DNS name (letters, digits, hyphens, dots) or an IP address;
//! - an SFTP path and a folder hold no control character and no backslash; a folder is an
//!   absolute path without `..`;
//! - a REST URL is an `http(s)://` URL with a host, no space, quote or backslash; its
//!   password is never shown ([`Location::redacted`], [`Location::describe`]).
//!
//! `target::open` checks again before anything runs, so a location stored before these checks
//! existed cannot run either; and the user and host go into an ssh configuration file, never
//! into the command string restic splits (`target.rs`).

use crate::names::Invalid;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

/// Where a target is, by kind. Stored as JSON in `backup_targets.location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Location {
    Folder {
        #[schema(value_type = String)]
        path: PathBuf,
    },
    Usb {
        uuid: String,
        label: String,
    },
    Sftp {
        user: String,
        host: String,
        #[serde(default = "ssh_port")]
        port: u16,
        path: String,
    },
    Rest {
        url: String,
    },
}

fn ssh_port() -> u16 {
    22
}

fn invalid(key: &'static str, message: String) -> Invalid {
    Invalid { key, message }
}

/// An SFTP account name: what `useradd` accepts on every system, nothing a parser could
/// read as syntax.
pub fn check_user(user: &str) -> Result<(), Invalid> {
    let ok = (1..=32).contains(&user.len())
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        invalid(
            "backup_target_bad_user",
            format!(
                "the SFTP user '{}' is not an account name (letters, digits, '.', '_', '-')",
                shown(user)
            ),
        )
    })
}

/// A host to reach: an IP address or a DNS name.
pub fn check_host(host: &str) -> Result<(), Invalid> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() && (bare == host || host.starts_with('[')) {
        return Ok(());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if (1..=253).contains(&name.len()) && name.split('.').all(label_ok) {
        return Ok(());
    }
    Err(invalid(
        "backup_target_bad_host",
        format!("'{}' is not a host name or an IP address", shown(host)),
    ))
}

/// A path on the other machine: any text without control characters or backslashes.
fn check_remote_path(path: &str) -> Result<(), Invalid> {
    let ok = (1..=1024).contains(&path.len())
        && !path.starts_with('-')
        && !path.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(()).ok_or_else(|| {
        invalid(
            "backup_target_bad_path",
            format!(
                "the path '{}' is empty or holds control characters or backslashes",
                shown(path)
            ),
        )
    })
}

/// A folder on the box: absolute, without `..`, control characters or backslashes.
fn check_folder(path: &Path) -> Result<(), Invalid> {
    let text = path.to_string_lossy();
    let ok = path.is_absolute()
        && text.len() <= 1024
        && !text.chars().any(|c| c.is_control() || c == '\\')
        && !path.components().any(|c| matches!(c, Component::ParentDir));
    ok.then_some(()).ok_or_else(|| {
        invalid(
            "backup_target_bad_folder",
            format!(
                "the folder '{}' must be an absolute path without '..', control characters or backslashes",
                shown(&text)
            ),
        )
    })
}

/// A restic REST server's URL.
fn check_rest_url(text: &str) -> Result<(), Invalid> {
    let bad = || {
        invalid(
            "backup_target_bad_url",
            format!(
                "'{}' is not an http:// or https:// address of a restic REST server",
                redact_url(&shown(text))
            ),
        )
    };
    if text.len() > 2048
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\\\"'`<>".contains(c))
    {
        return Err(bad());
    }
    let url = url::Url::parse(text).map_err(|_| bad())?;
    let host_ok = match url.host() {
        Some(url::Host::Domain(d)) => check_host(d).is_ok(),
        Some(_) => true,
        None => false,
    };
    if !matches!(url.scheme(), "http" | "https") || !host_ok || url.fragment().is_some() {
        return Err(bad());
    }
    Ok(())
}

/// A file-system UUID as `blkid` prints it.
fn check_uuid(uuid: &str) -> Result<(), Invalid> {
    let ok = (1..=36).contains(&uuid.len())
        && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && !uuid.starts_with('-');
    ok.then_some(()).ok_or_else(|| {
        invalid(
            "backup_target_bad_uuid",
            format!("'{}' is not a file-system UUID", shown(uuid)),
        )
    })
}

/// A value for an error message: printable and short.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect()
}

/// The URL with its password (if any) replaced by `***`, as restic prints it.
pub fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => text.to_owned(),
        // Not a URL: keep nothing after a '@' that could be a password.
        Err(_) => match text.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => text.to_owned(),
        },
    }
}

impl Location {
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Folder { .. } => "folder",
            Location::Usb { .. } => "usb",
            Location::Sftp { .. } => "sftp",
            Location::Rest { .. } => "rest",
        }
    }

    /// Checks every field (see the module's documentation).
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Location::Folder { path } => check_folder(path),
            Location::Usb { uuid, .. } => check_uuid(uuid),
            Location::Sftp {
                user,
                host,
                port,
                path,
            } => {
                check_user(user)?;
                check_host(host)?;
                if *port == 0 {
                    return Err(invalid(
                        "backup_target_bad_port",
                        "the SFTP port must be between 1 and 65535".into(),
                    ));
                }
                check_remote_path(path)
            }
            Location::Rest { url } => check_rest_url(url),
        }
    }

    /// The same location with a REST URL's password hidden: what the API and the pages show.
    pub fn redacted(&self) -> Location {
        match self {
            Location::Rest { url } => Location::Rest {
                url: redact_url(url),
            },
            other => other.clone(),
        }
    }

    /// Where the target is, for people (the UI, logs, messages): never a password.
    pub fn describe(&self) -> String {
        match self {
            Location::Folder { path } => path.display().to_string(),
            Location::Usb { uuid, label } => format!("USB « {} » (UUID {uuid})", shown(label)),
            Location::Sftp {
                user,
                host,
                port,
                path,
            } => format!("sftp://{user}@{host}:{port}{path}"),
            Location::Rest { url } => redact_url(url),
        }
    }

    /// The repository argument for plain restic, as the emergency kit prints it. The kit is
    /// the one place a REST URL's password is written out: it holds the repository's key too.
    pub fn restic_url_for_kit(&self) -> String {
        match self {
            Location::Folder { path } => path.display().to_string(),
            Location::Usb { .. } => "/media/<disque>/panier-backup".to_owned(),
            Location::Sftp {
                user, host, path, ..
            } => format!("sftp:{user}@{host}:{path}"),
            Location::Rest { url } => format!("rest:{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sftp(user: &str, host: &str, path: &str) -> Location {
        Location::Sftp {
            user: user.into(),
            host: host.into(),
            port: 22,
            path: path.into(),
        }
    }

    #[test]
    fn fields_that_a_program_could_read_as_syntax_are_refused() {
        for (loc, key) in [
            (sftp("a b", "h", "/x"), "backup_target_bad_user"),
            (sftp("u\\-oX=y", "h", "/x"), "backup_target_bad_user"),
            (
                sftp("-oProxyCommand=x", "h", "/x"),
                "backup_target_bad_user",
            ),
            (
                sftp("u", "h\\-oProxyCommand=touch${IFS}/tmp/x", "/x"),
                "backup_target_bad_host",
            ),
            (
                sftp("u", "-oProxyCommand=x", "/x"),
                "backup_target_bad_host",
            ),
            (sftp("u", "h%h", "/x"), "backup_target_bad_host"),
            (sftp("u", "h", "/x\\y"), "backup_target_bad_path"),
            (sftp("u", "h", "/x\ny"), "backup_target_bad_path"),
            (
                Location::Folder {
                    path: "relative".into(),
                },
                "backup_target_bad_folder",
            ),
            (
                Location::Folder {
                    path: "/mnt/../etc".into(),
                },
                "backup_target_bad_folder",
            ),
            (
                Location::Usb {
                    uuid: "$(rm)".into(),
                    label: "x".into(),
                },
                "backup_target_bad_uuid",
            ),
            (
                Location::Rest {
                    url: "ftp://x".into(),
                },
                "backup_target_bad_url",
            ),
            (
                Location::Rest {
                    url: "http://h\\-o/".into(),
                },
                "backup_target_bad_url",
            ),
        ] {
            assert_eq!(loc.validate().map_err(|e| e.key), Err(key), "{loc:?}");
        }
        for ok in [
            sftp("panier", "nas.local", "/srv/b"),
            sftp("backup_1", "192.168.1.20", "sauvegardes/panier"),
            sftp("u", "[fd00::1]", "/b"),
            sftp("u", "fd00::1", "/b b"),
            Location::Rest {
                url: "https://u:p@rest.example:8000/panier/".into(),
            },
            Location::Folder {
                path: "/mnt/nas/panier".into(),
            },
        ] {
            assert!(ok.validate().is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn a_rest_password_is_never_shown() {
        let l = Location::Rest {
            url: "https://panier:s3cret@rest.example/repo/".into(),
        };
        assert!(!l.describe().contains("s3cret"), "{}", l.describe());
        assert!(
            !serde_json::to_string(&l.redacted())
                .unwrap()
                .contains("s3cret")
        );
        assert!(l.restic_url_for_kit().contains("s3cret"), "the kit has it");
    }
}
