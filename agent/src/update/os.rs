//! The system boundary of OS updates: which slot booted, RAUC (install into the other slot,
//! the slots' boot status, making the booted slot primary again), the restart, and what a
//! failed boot of a slot left behind.
//!
//! [`Slots`] is the narrow trait the update domain owns; [`RaucSlots`] runs the real `rauc`
//! and `systemctl`. The booted slot comes from the kernel command line (`rauc.slot=A`, set by
//! the image's GRUB menu): a machine without it (a development machine) is not a Panier
//! system, and [`RaucSlots::reboot`] then refuses to restart it.
//!
//! Failed boots: `panier-mark-good` (the overlay) writes, when panier did not become healthy
//! on the slot it booted, a report `failed-boot-<slot>-<unix time>.txt` in
//! [`FAILED_BOOTS_DIR`] on the data partition (the reason, then what panier.service logged
//! during that boot), which the old system reads after the fallback.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Where `panier-mark-good` leaves its reports (the data partition).
pub const FAILED_BOOTS_DIR: &str = "/data/rauc/failed-boots";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "A" => Some(Slot::A),
            "B" => Some(Slot::B),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// The slot named by a kernel command line (`rauc.slot=A`).
    pub fn from_cmdline(cmdline: &str) -> Option<Slot> {
        cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix("rauc.slot="))
            .and_then(Slot::parse)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OsError {
    #[error(
        "this machine was not started from a Panier system slot (no rauc.slot= on its command line)"
    )]
    NotASlot,
    #[error("`{program}` could not run: {message}")]
    Spawn { program: String, message: String },
    #[error("RAUC refused the bundle: {0}")]
    Rauc(String),
    #[error("the restart failed: {0}")]
    Reboot(String),
}

/// A failed boot of a slot, as `panier-mark-good` reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedBoot {
    pub slot: Slot,
    pub at: i64,
    /// The whole report: the reason, then the log lines.
    pub report: String,
}

#[async_trait]
pub trait Slots: Send + Sync {
    /// The slot the running system booted from, `None` outside a Panier system.
    fn booted(&self) -> Option<Slot>;
    /// The kernel's id of this boot (a new one at every boot).
    fn boot_id(&self) -> String;
    /// Installs the bundle into the other slot and makes it the next to boot; `progress`
    /// gets RAUC's percentage.
    async fn install(
        &self,
        bundle: &Path,
        progress: &(dyn Fn(u8) + Send + Sync),
    ) -> Result<(), OsError>;
    /// Whether RAUC counts `slot` as good (marked good since its installation).
    async fn is_good(&self, slot: Slot) -> Result<bool, OsError>;
    /// Makes the booted slot the first to boot again (after a fallback).
    async fn keep_booted(&self) -> Result<(), OsError>;
    async fn reboot(&self) -> Result<(), OsError>;
    /// The reports of failed boots of `slot` since `since` (Unix seconds), oldest first.
    fn failed_boots(&self, slot: Slot, since: i64) -> Vec<FailedBoot>;
}

/// The real thing: `rauc`, `systemctl reboot`, the kernel command line, the reports' folder.
pub struct RaucSlots {
    cmdline: PathBuf,
    reports: PathBuf,
}

impl RaucSlots {
    pub fn new(reports: &Path) -> RaucSlots {
        RaucSlots {
            cmdline: "/proc/cmdline".into(),
            reports: reports.to_owned(),
        }
    }
}

async fn run(program: &str, args: &[&str]) -> Result<String, OsError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(|e| OsError::Spawn {
            program: program.to_owned(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(OsError::Rauc(last_words(&String::from_utf8_lossy(
            &out.stderr,
        ))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last few meaningful lines of a program's output (RAUC ends with its reason).
fn last_words(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(3)..].join(" — ")
}

/// RAUC's progress lines (`rauc install` prints `" 40% Copying image to rootfs.1"`).
pub fn progress_of(line: &str) -> Option<u8> {
    let (number, _) = line.trim_start().split_once('%')?;
    number.parse::<u8>().ok().filter(|p| *p <= 100)
}

#[async_trait]
impl Slots for RaucSlots {
    fn booted(&self) -> Option<Slot> {
        Slot::from_cmdline(&std::fs::read_to_string(&self.cmdline).ok()?)
    }

    fn boot_id(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }

    async fn install(
        &self,
        bundle: &Path,
        progress: &(dyn Fn(u8) + Send + Sync),
    ) -> Result<(), OsError> {
        if self.booted().is_none() {
            return Err(OsError::NotASlot);
        }
        let mut child = tokio::process::Command::new("rauc")
            .arg("install")
            .arg(bundle)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| OsError::Spawn {
                program: "rauc".into(),
                message: e.to_string(),
            })?;
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let errors = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut said = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(p) = progress_of(&line) {
                progress(p);
            }
            said.push_str(&line);
            said.push('\n');
        }
        let status = child.wait().await.map_err(|e| OsError::Spawn {
            program: "rauc".into(),
            message: e.to_string(),
        })?;
        let errors = errors.await.unwrap_or_default();
        if status.success() {
            Ok(())
        } else {
            Err(OsError::Rauc(last_words(&format!("{said}{errors}"))))
        }
    }

    async fn is_good(&self, slot: Slot) -> Result<bool, OsError> {
        let json = run("rauc", &["status", "--output-format=json"]).await?;
        let v: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| OsError::Rauc(e.to_string()))?;
        Ok(v["slots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_object()?.values().next())
            .any(|s| s["bootname"] == slot.as_str() && s["boot_status"] == "good"))
    }

    async fn keep_booted(&self) -> Result<(), OsError> {
        run("rauc", &["status", "mark-active", "booted"])
            .await
            .map(|_| ())
    }

    async fn reboot(&self) -> Result<(), OsError> {
        // Never restart a machine that is not a Panier box (a developer's, a test host).
        if self.booted().is_none() {
            return Err(OsError::NotASlot);
        }
        run("systemctl", &["reboot"])
            .await
            .map(|_| ())
            .map_err(|e| OsError::Reboot(e.to_string()))
    }

    fn failed_boots(&self, slot: Slot, since: i64) -> Vec<FailedBoot> {
        read_failed_boots(&self.reports, slot, since)
    }
}

/// The reports in `dir` for `slot` since `since`, oldest first.
pub fn read_failed_boots(dir: &Path, slot: Slot, since: i64) -> Vec<FailedBoot> {
    let mut out: Vec<FailedBoot> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix("failed-boot-")?.strip_suffix(".txt")?;
            let (s, at) = rest.split_once('-')?;
            let at: i64 = at.parse().ok()?;
            (Slot::parse(s)? == slot && at >= since).then_some(())?;
            // A report is small; a huge file is cut rather than read whole.
            let mut report = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(std::fs::File::open(e.path()).ok()?, 16 * 1024),
                &mut report,
            )
            .ok()?;
            Some(FailedBoot { slot, at, report })
        })
        .collect();
    out.sort_by_key(|b| b.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_progress_and_reports() {
        assert_eq!(
            Slot::from_cmdline("root=PARTUUID=x ro rauc.slot=B quiet"),
            Some(Slot::B)
        );
        assert_eq!(Slot::from_cmdline("root=/dev/sda1"), None);
        assert_eq!(progress_of(" 40% Copying image to rootfs.1"), Some(40));
        assert_eq!(progress_of("100% Installing done."), Some(100));
        assert_eq!(progress_of("installing"), None);
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("failed-boot-A-100.txt", "old"),
            ("failed-boot-A-300.txt", "second"),
            ("failed-boot-A-200.txt", "first"),
            ("failed-boot-B-250.txt", "other slot"),
            ("notes.txt", "not a report"),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let boots = read_failed_boots(dir.path(), Slot::A, 150);
        assert_eq!(
            boots.iter().map(|b| b.report.as_str()).collect::<Vec<_>>(),
            ["first", "second"]
        );
    }
}
