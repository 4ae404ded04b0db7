//! The install's boundary with the hardware: a narrow trait, [`Machine`], implemented over
//! `panier-hw` by [`HwMachine`] (the tests give the router a fake one).
//!
//! It knows which disk the system runs from and whether install mode is offered: the root
//! file system is a slot (partition 3 or 4) of a removable or USB disk with a Panier layout.
//! A box installed on its internal disk, a development machine or a container is not offered
//! install mode. Candidate targets are the other whole disks that are neither removable nor
//! on USB and have a size.

use panier_hw::blockdev::{self, DiskIdentity};
use panier_hw::certificate::WipeCertificate;
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use panier_hw::install::{InstallError, InstallOptions, InstallReport, Progress, Slot};
use panier_hw::probe::Probe;
use panier_hw::report::{BoxLabel, ReportError, Written};
use panier_hw::wipe::{WipeError, WipeOptions};
use std::path::Path;

/// The disk the system runs from, when install mode is offered.
#[derive(Debug, Clone)]
pub struct Source {
    pub disk: DiskIdentity,
    pub slot: Slot,
}

/// Why install mode is not offered (English; the UI says it with `install.not_offered.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotOffered {
    /// `/` is not a partition of a disk (a development machine, a container).
    NoSystemDisk,
    /// The system runs from an internal disk: this box is installed.
    Internal { disk: String },
    /// The removable disk the system runs from is not a Panier disk.
    NotPanier { disk: String, problem: String },
}

impl NotOffered {
    pub fn key(&self) -> &'static str {
        match self {
            NotOffered::NoSystemDisk => "no_system_disk",
            NotOffered::Internal { .. } => "internal",
            NotOffered::NotPanier { .. } => "not_panier",
        }
    }
}

impl std::fmt::Display for NotOffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotOffered::NoSystemDisk => {
                f.write_str("the system does not run from a disk partition")
            }
            NotOffered::Internal { disk } => write!(
                f,
                "the system runs from the internal disk {disk}: this box is installed"
            ),
            NotOffered::NotPanier { disk, problem } => {
                write!(f, "{disk} is not a Panier disk: {problem}")
            }
        }
    }
}

pub trait Machine: Send + Sync + 'static {
    /// Where the system runs from (looked up once, at start).
    fn source(&self) -> Result<Source, NotOffered>;
    /// The internal disks an install may go to (never the source).
    fn targets(&self) -> Vec<DiskIdentity>;
    fn probe(&self) -> Probe;
    fn wipe(
        &self,
        device: &Path,
        confirmation: &str,
        options: &WipeOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<WipeCertificate, WipeError>;
    fn install(
        &self,
        options: &InstallOptions,
        progress: &mut Progress,
    ) -> Result<InstallReport, InstallError>;
    fn report(&self, dir: &Path, label: &BoxLabel, lang: Lang) -> Result<Written, ReportError>;
    /// Restarts the box (into the installed disk, once the stick is out).
    fn reboot(&self) -> Result<(), String>;
}

/// The real machine, through `panier-hw`.
pub struct HwMachine {
    source: Result<Source, NotOffered>,
}

impl HwMachine {
    /// Looks up the system's disk (reads sysfs, runs `sfdisk --json` once).
    pub fn new() -> HwMachine {
        HwMachine {
            source: find_source(&Host::system()),
        }
    }
}

impl Default for HwMachine {
    fn default() -> Self {
        Self::new()
    }
}

/// The slot `/` is mounted from, and its disk.
fn find_source(host: &Host) -> Result<Source, NotOffered> {
    let root = blockdev::mounts(host)
        .into_iter()
        .rev()
        .find(|m| m.mountpoint == "/")
        .ok_or(NotOffered::NoSystemDisk)?;
    let part = host
        .link_name(&format!("/sys/dev/block/{}", root.devnum))
        .ok_or(NotOffered::NoSystemDisk)?;
    let number = host
        .attr_u64(&format!("/sys/class/block/{part}/partition"))
        .ok_or(NotOffered::NoSystemDisk)?;
    let disk = blockdev::list_disks(host, true)
        .into_iter()
        .find(|d| host.exists(&format!("/sys/block/{d}/{part}")))
        .ok_or(NotOffered::NoSystemDisk)?;
    let identity = blockdev::identity(host, &disk);
    if !identity.removable {
        return Err(NotOffered::Internal { disk });
    }
    let not_panier = |problem: String| NotOffered::NotPanier {
        disk: disk.clone(),
        problem,
    };
    let table = panier_hw::install::layout::read(Path::new(&identity.path))
        .map_err(|e| not_panier(e.to_string()))?;
    panier_hw::install::layout::check_panier(&table).map_err(not_panier)?;
    let slot = match number {
        3 => Slot::A,
        4 => Slot::B,
        n => {
            return Err(not_panier(format!(
                "the system runs from partition {n}, not a system slot"
            )));
        }
    };
    Ok(Source {
        disk: identity,
        slot,
    })
}

impl Machine for HwMachine {
    fn source(&self) -> Result<Source, NotOffered> {
        self.source.clone()
    }

    fn targets(&self) -> Vec<DiskIdentity> {
        let host = Host::system();
        let source = self.source.as_ref().map(|s| s.disk.name.clone()).ok();
        let mut disks: Vec<DiskIdentity> = blockdev::list_disks(&host, false)
            .iter()
            .map(|name| blockdev::identity(&host, name))
            .filter(|d| Some(&d.name) != source.as_ref() && !d.removable && d.size_bytes > 0)
            .collect();
        disks.sort_by(|a, b| a.name.cmp(&b.name));
        disks
    }

    fn probe(&self) -> Probe {
        panier_hw::probe::probe(&Host::system())
    }

    fn wipe(
        &self,
        device: &Path,
        confirmation: &str,
        options: &WipeOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<WipeCertificate, WipeError> {
        panier_hw::wipe::wipe(&Host::system(), device, confirmation, options, progress)
    }

    fn install(
        &self,
        options: &InstallOptions,
        progress: &mut Progress,
    ) -> Result<InstallReport, InstallError> {
        panier_hw::install::install(&Host::system(), options, progress)
    }

    fn report(&self, dir: &Path, label: &BoxLabel, lang: Lang) -> Result<Written, ReportError> {
        panier_hw::report::write(&Host::system(), dir, label, None, None, lang)
    }

    fn reboot(&self) -> Result<(), String> {
        let out = std::process::Command::new("systemctl")
            .arg("reboot")
            .output()
            .map_err(|e| format!("systemctl reboot: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}
