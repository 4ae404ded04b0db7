//! Install mode: copy the running Panier system from its disk (the workshop's USB stick)
//! onto a box's internal disk, verify it, and provision the new box.
//!
//! Order, chosen so that an interrupted install never looks installed:
//! 1. checks that write nothing: the source is a Panier GPT layout ([`layout`]) whose booted
//!    slot holds a squashfs; the box name and setup code are ones the box's provisioning
//!    accepts; the new box's EFI partition is made in memory ([`efi`]); the target passes [`crate::blockdev::claim_for_destruction`] (never the system
//!    disk, never mounted, serial typed, exclusive open held to the end), is not the source,
//!    and is large enough;
//! 2. the target's old partition tables (first and last MiB) are zeroed;
//! 3. the ranges ([`copy`]) are written: GRUB's core image (partition 1), the EFI partition
//!    made in step 1, the booted slot's squashfs into slot A (its used
//!    bytes only), zeros over the head of slot B and over the data partition;
//! 4. everything written is read back through `O_DIRECT` and its SHA-256 compared;
//! 5. only then the new GPT (same offsets, new UUIDs, [`layout::plan`]) and GRUB's MBR boot
//!    code (the source's first 440 bytes, written after the table, which clears them) are
//!    written, read back and compared; the kernel is asked to re-read the table.
//!
//! Invariant: after step 2 any failure clears the target's partition tables again and the
//! error is [`InstallError::NotInstalled`], saying so; there is no partial success.
//! Progress comes as a [`Stage`], a percentage of the whole install and a line in the chosen
//! language; errors name the disk, the partition and the operation ([`InstallError::message`]
//! says them in French or English).
//! Limits: the source is read while the system runs from it; the slot and GRUB's partition
//! are read-only at run time, and the EFI partition is re-read and edited in memory, so a
//! concurrent write there (the environment block) does not matter: it is replaced.

pub mod copy;
pub mod efi;
pub mod layout;

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::blockdev::{self, DiskIdentity, SafetyError};
use crate::certificate::now;
use crate::host::Host;
use crate::html::human_bytes;
use crate::i18n::{Lang, Msg, tr};
use crate::rawio::{self, AlignedBuf};
use copy::{Content, Copied, IoFailure, Range};
use layout::{Table, TableError};

const MIB: u64 = 1 << 20;
/// What is zeroed at the head of slot B: enough to erase any file system signature.
const SLOT_B_HEAD: u64 = MIB;

/// A system slot of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn partition(self) -> u32 {
        match self {
            Slot::A => 3,
            Slot::B => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Check,
    Clear,
    Copy,
    Verify,
    Table,
    Done,
}

pub struct InstallOptions<'a> {
    /// The Panier disk the system runs from.
    pub source: &'a Path,
    /// Its slot to copy (the booted one).
    pub slot: Slot,
    /// The whole disk to install onto.
    pub target: &'a Path,
    /// The target's serial (its kernel name when it has none), as the operator typed it.
    pub confirmation: &'a str,
    pub box_name: &'a str,
    pub setup_code: &'a str,
    pub lang: Lang,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallReport {
    pub source: DiskIdentity,
    pub target: DiskIdentity,
    pub slot: Slot,
    /// The target's partition table as read back.
    pub table: Table,
    pub copied: Vec<Copied>,
    pub copied_bytes: u64,
    pub write_seconds: f64,
    pub verify_seconds: f64,
    pub started_at: String,
    pub ended_at: String,
    pub box_name: String,
    /// Whether the kernel re-read the new table (else it learns it at the next boot).
    pub kernel_notified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("source disk: {0}")]
    Source(SafetyError),
    #[error("{device} is not a Panier disk: {problem}")]
    NotPanier { device: String, problem: String },
    #[error(transparent)]
    Refused(SafetyError),
    #[error("{device} is the source disk: install onto another disk")]
    SameDisk { device: String },
    #[error("invalid box name {0:?}: 1 to 40 lowercase letters, digits or inner dashes")]
    BoxName(String),
    #[error("invalid setup code: 8 to 32 characters of ABCDEFGHJKMNPQRSTUVWXYZ23456789")]
    SetupCode,
    #[error("{device} is too small: {size_bytes} bytes, the install needs {needed_bytes}")]
    TooSmall {
        device: String,
        size_bytes: u64,
        needed_bytes: u64,
    },
    #[error("{device}, partition {partition}: {operation} failed at byte {offset}: {source}")]
    Io {
        device: String,
        partition: String,
        operation: &'static str,
        offset: u64,
        source: std::io::Error,
    },
    #[error(
        "{device}, partition {partition}: the read-back differs from what was written (SHA-256 {written} written, {read} read)"
    )]
    Mismatch {
        device: String,
        partition: String,
        written: String,
        read: String,
    },
    #[error("EFI partition of {device}: {source}")]
    Efi {
        device: String,
        source: efi::EfiError,
    },
    #[error(transparent)]
    Table(TableError),
    #[error("the partition table read back from {device} is not the one written: {problem}")]
    TableMismatch { device: String, problem: String },
    #[error("{cause}; {device} is NOT installed: {}", if *.cleared { "its partition table was cleared".to_string() } else { format!("clearing its partition table failed too ({})", .clear_error) })]
    NotInstalled {
        device: String,
        cause: Box<InstallError>,
        cleared: bool,
        clear_error: String,
    },
}

impl InstallError {
    /// The error in `lang` (what the refurbishment workshop reads).
    pub fn message(&self, lang: Lang) -> String {
        match self {
            InstallError::Source(e) => tr(lang, Msg::InstallErrSource, &[("detail", e)]),
            InstallError::NotPanier { device, problem } => tr(
                lang,
                Msg::InstallErrNotPanier,
                &[("disk", device), ("problem", problem)],
            ),
            InstallError::Refused(e) => tr(lang, Msg::InstallErrRefused, &[("detail", e)]),
            InstallError::SameDisk { device } => {
                tr(lang, Msg::InstallErrSameDisk, &[("disk", device)])
            }
            InstallError::BoxName(name) => tr(lang, Msg::InstallErrBoxName, &[("name", name)]),
            InstallError::SetupCode => tr(lang, Msg::InstallErrSetupCode, &[]),
            InstallError::TooSmall {
                device,
                size_bytes,
                needed_bytes,
            } => tr(
                lang,
                Msg::InstallErrTooSmall,
                &[
                    ("disk", device),
                    ("size", &human_bytes(*size_bytes)),
                    ("needed", &human_bytes(*needed_bytes)),
                ],
            ),
            InstallError::Io {
                device,
                partition,
                operation,
                offset,
                source,
            } => tr(
                lang,
                Msg::InstallErrIo,
                &[
                    ("disk", device),
                    ("partition", partition),
                    ("operation", operation),
                    ("offset", offset),
                    ("detail", source),
                ],
            ),
            InstallError::Mismatch {
                device, partition, ..
            } => tr(
                lang,
                Msg::InstallErrMismatch,
                &[("disk", device), ("partition", partition)],
            ),
            InstallError::Efi { device, source } => tr(
                lang,
                Msg::InstallErrEfi,
                &[("disk", device), ("detail", source)],
            ),
            InstallError::Table(e) => tr(lang, Msg::InstallErrTable, &[("detail", e)]),
            InstallError::TableMismatch { device, problem } => tr(
                lang,
                Msg::InstallErrTable,
                &[("detail", &format!("{device}: {problem}"))],
            ),
            InstallError::NotInstalled {
                device,
                cause,
                cleared,
                clear_error,
            } => {
                let cleanup = if *cleared {
                    tr(lang, Msg::InstallCleared, &[])
                } else {
                    tr(lang, Msg::InstallClearFailed, &[("detail", clear_error)])
                };
                tr(
                    lang,
                    Msg::InstallNotInstalled,
                    &[
                        ("cause", &cause.message(lang)),
                        ("disk", device),
                        ("cleanup", &cleanup),
                    ],
                )
            }
        }
    }
}

pub use crate::names::{normalized_setup_code, valid_box_name};

/// The progress callback: stage, percent of the whole install, a line in the chosen language.
pub type Progress<'a> = dyn FnMut(Stage, u8, &str) + 'a;

/// Installs (see the module doc). `host` is where disks are looked up (the real system).
pub fn install(
    host: &Host,
    o: &InstallOptions,
    progress: &mut Progress,
) -> Result<InstallReport, InstallError> {
    let started_at = now();
    let lang = o.lang;
    let source_name = blockdev::resolve(host, o.source).map_err(InstallError::Source)?;
    let target_name = blockdev::resolve(host, o.target).map_err(InstallError::Refused)?;
    progress(
        Stage::Check,
        0,
        &tr(
            lang,
            Msg::InstallChecking,
            &[("source", &source_name), ("target", &target_name)],
        ),
    );
    if source_name == target_name {
        return Err(InstallError::SameDisk {
            device: target_name,
        });
    }
    if !valid_box_name(o.box_name) {
        return Err(InstallError::BoxName(o.box_name.to_string()));
    }
    let setup_code = normalized_setup_code(o.setup_code).ok_or(InstallError::SetupCode)?;
    let source_id = blockdev::identity(host, &source_name);
    let not_panier = |problem: String| InstallError::NotPanier {
        device: source_name.clone(),
        problem,
    };
    let source_table =
        layout::read(Path::new(&source_id.path)).map_err(|e| not_panier(e.to_string()))?;
    layout::check_panier(&source_table).map_err(not_panier)?;
    let source = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
        .open(&source_id.path)
        .map_err(|e| {
            InstallError::Source(SafetyError::Open {
                device: source_name.clone(),
                source: e,
            })
        })?;
    let source_io = |partition: &str, offset: u64| {
        let (device, partition) = (source_name.clone(), partition.to_string());
        move |source| InstallError::Io {
            device,
            partition,
            operation: "read",
            offset,
            source,
        }
    };
    let slot_part = source_table.part(o.slot.partition()).clone();
    let mut buf = copy::buffer();
    let head = &mut buf.as_mut_slice()[..4096];
    rawio::read_exact_at(&source, head, slot_part.start_bytes)
        .map_err(source_io(&slot_part.name, slot_part.start_bytes))?;
    let squashfs_bytes = copy::squashfs_bytes(head)
        .map_err(|why| not_panier(format!("slot {:?} ({}): {why}", o.slot, slot_part.name)))?;
    if squashfs_bytes > slot_part.size_bytes {
        return Err(not_panier(format!(
            "the squashfs of slot {:?} is larger than its partition",
            o.slot
        )));
    }
    // The new box's EFI partition, made before the target is touched.
    let efi_part = source_table.part(2);
    let mut efi_buf = AlignedBuf::new(efi_part.size_bytes as usize);
    rawio::read_exact_at(&source, efi_buf.as_mut_slice(), efi_part.start_bytes)
        .map_err(source_io(&efi_part.name, efi_part.start_bytes))?;
    progress(
        Stage::Check,
        1,
        &tr(lang, Msg::InstallProvisioning, &[("name", &o.box_name)]),
    );
    let efi_image =
        efi::provision(efi_buf.as_slice().to_vec(), o.box_name, &setup_code).map_err(|source| {
            InstallError::Efi {
                device: source_name.clone(),
                source,
            }
        })?;
    drop(efi_buf);

    let claimed = blockdev::claim_for_destruction(host, o.target, o.confirmation)
        .map_err(InstallError::Refused)?;
    let target_id = claimed.identity.clone();
    let sector = host
        .attr_u64(&format!(
            "/sys/block/{target_name}/queue/logical_block_size"
        ))
        .filter(|s| *s >= 512)
        .unwrap_or(512);
    let plan = layout::plan(&source_table, sector);
    let needed = layout::needed_bytes(&plan);
    if target_id.size_bytes < needed {
        return Err(InstallError::TooSmall {
            device: target_name,
            size_bytes: target_id.size_bytes,
            needed_bytes: needed,
        });
    }

    // From here on the target is written: any failure clears its tables again.
    let target = &claimed.file;
    let mut run = Run {
        lang,
        disk: &target_id,
        target,
        source: &source,
        source_table: &source_table,
        plan: &plan,
        efi_image: &efi_image,
        progress,
    };
    let written = run.write_and_verify(o.slot, squashfs_bytes, &mut buf);
    let (copied, table, write_seconds, verify_seconds) = match written {
        Ok(done) => done,
        Err(cause) => {
            let clear_error = clear(target, target_id.size_bytes)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let _ = rawio::reread_partitions(target);
            let err = InstallError::NotInstalled {
                device: target_name,
                cause: Box::new(cause),
                cleared: clear_error.is_empty(),
                clear_error,
            };
            (run.progress)(Stage::Done, 100, &err.message(lang));
            return Err(err);
        }
    };
    let kernel_notified = rawio::reread_partitions(target).is_ok();
    let copied_bytes = copied.iter().map(|c| c.bytes).sum();
    (run.progress)(
        Stage::Done,
        100,
        &tr(
            lang,
            Msg::InstallDone,
            &[
                ("disk", &target_name),
                ("bytes", &human_bytes(copied_bytes)),
                ("secs", &format!("{:.0}", write_seconds + verify_seconds)),
            ],
        ),
    );
    Ok(InstallReport {
        source: source_id,
        target: target_id,
        slot: o.slot,
        table,
        copied,
        copied_bytes,
        write_seconds,
        verify_seconds,
        started_at,
        ended_at: now(),
        box_name: o.box_name.to_string(),
        kernel_notified,
    })
}

/// Zeroes the first and last MiB of a disk: no partition table is left (primary or backup).
/// The tail starts 4 KiB-aligned and runs to the last sector, whatever the disk's size.
pub fn clear(target: &File, size: u64) -> std::io::Result<()> {
    let zeros = AlignedBuf::new((MIB + 4096) as usize);
    for offset in [0, size.saturating_sub(MIB) / 4096 * 4096] {
        let len = if offset == 0 {
            size.min(MIB)
        } else {
            size - offset
        };
        match rawio::zero_out(target, offset, len) {
            Ok(()) => {}
            Err(e) if rawio::is_unsupported(&e) => {
                rawio::write_all_at(target, &zeros.as_slice()[..len as usize], offset)?
            }
            Err(e) => return Err(e),
        }
    }
    target.sync_all()
}

/// The writing part of an install, on a claimed target.
struct Run<'a, 'p> {
    lang: Lang,
    disk: &'a DiskIdentity,
    target: &'a File,
    source: &'a File,
    source_table: &'a Table,
    plan: &'a Table,
    efi_image: &'a [u8],
    progress: &'a mut Progress<'p>,
}

impl Run<'_, '_> {
    fn io(&self, partition: &str, f: IoFailure) -> InstallError {
        InstallError::Io {
            device: self.disk.name.clone(),
            partition: partition.to_string(),
            operation: f.operation,
            offset: f.offset,
            source: f.source,
        }
    }

    fn write_and_verify(
        &mut self,
        slot: Slot,
        squashfs_bytes: u64,
        buf: &mut AlignedBuf,
    ) -> Result<(Vec<Copied>, Table, f64, f64), InstallError> {
        let (lang, name) = (self.lang, self.disk.name.clone());
        (self.progress)(
            Stage::Clear,
            2,
            &tr(lang, Msg::InstallClearing, &[("disk", &name)]),
        );
        clear(self.target, self.disk.size_bytes).map_err(|source| InstallError::Io {
            device: name.clone(),
            partition: "—".into(),
            operation: "clear",
            offset: 0,
            source,
        })?;

        let (src, plan, efi_image) = (self.source_table, self.plan, self.efi_image);
        let slot = src.part(slot.partition());
        let ranges = [
            Range {
                partition: layout::NAMES[0],
                target_offset: plan.part(1).start_bytes,
                len: src.part(1).size_bytes,
                content: Content::Disk {
                    file: self.source,
                    offset: src.part(1).start_bytes,
                },
            },
            Range {
                partition: layout::NAMES[1],
                target_offset: plan.part(2).start_bytes,
                len: efi_image.len() as u64,
                content: Content::Bytes(efi_image),
            },
            Range {
                partition: layout::NAMES[2],
                target_offset: plan.part(3).start_bytes,
                len: squashfs_bytes,
                content: Content::Disk {
                    file: self.source,
                    offset: slot.start_bytes,
                },
            },
            Range {
                partition: layout::NAMES[3],
                target_offset: plan.part(4).start_bytes,
                len: SLOT_B_HEAD,
                content: Content::Zeros,
            },
            Range {
                partition: layout::NAMES[4],
                target_offset: plan.part(5).start_bytes,
                len: plan.part(5).size_bytes,
                content: Content::Zeros,
            },
        ];
        let total: u64 = ranges.iter().map(|r| r.len).sum::<u64>().max(1);

        let started = Instant::now();
        let mut hashes = Vec::new();
        let mut meter = Meter {
            stage: Stage::Copy,
            from: 3,
            to: 50,
            done: 0,
            total,
        };
        for range in &ranges {
            let key = if matches!(range.content, Content::Zeros) {
                Msg::InstallZeroing
            } else {
                Msg::InstallCopying
            };
            (self.progress)(
                Stage::Copy,
                meter.now(),
                &tr(
                    lang,
                    key,
                    &[
                        ("disk", &name),
                        ("partition", &range.partition),
                        ("size", &human_bytes(range.len)),
                    ],
                ),
            );
            let progress = &mut *self.progress;
            let sha = copy::write(self.target, range, buf, &mut |n| meter.add(n, progress))
                .map_err(|f| self.io(range.partition, f))?;
            hashes.push(sha);
        }
        self.target.sync_all().map_err(|source| InstallError::Io {
            device: name.clone(),
            partition: "—".into(),
            operation: "sync",
            offset: 0,
            source,
        })?;
        let write_seconds = started.elapsed().as_secs_f64();

        (self.progress)(
            Stage::Verify,
            50,
            &tr(lang, Msg::InstallVerifying, &[("disk", &name)]),
        );
        let started = Instant::now();
        let mut copied = Vec::new();
        let mut meter = Meter {
            stage: Stage::Verify,
            from: 50,
            to: 97,
            done: 0,
            total,
        };
        for (range, sha256) in ranges.iter().zip(hashes) {
            let progress = &mut *self.progress;
            let readback_sha256 =
                copy::read_back(self.target, range.target_offset, range.len, buf, &mut |n| {
                    meter.add(n, progress)
                })
                .map_err(|f| self.io(range.partition, f))?;
            if readback_sha256 != sha256 {
                return Err(InstallError::Mismatch {
                    device: name.clone(),
                    partition: range.partition.into(),
                    written: sha256,
                    read: readback_sha256,
                });
            }
            copied.push(Copied {
                partition: range.partition.into(),
                target_offset: range.target_offset,
                bytes: range.len,
                sha256,
                readback_sha256,
            });
        }
        let verify_seconds = started.elapsed().as_secs_f64();

        (self.progress)(
            Stage::Table,
            97,
            &tr(lang, Msg::InstallTable, &[("disk", &name)]),
        );
        let table = self.write_table(buf)?;
        copied.push(table.1);
        Ok((copied, table.0, write_seconds, verify_seconds))
    }

    /// The new GPT, then GRUB's MBR code over it; both read back and compared.
    fn write_table(&mut self, buf: &mut AlignedBuf) -> Result<(Table, Copied), InstallError> {
        let name = self.disk.name.clone();
        let path = Path::new(&self.disk.path);
        layout::write(path, self.plan).map_err(InstallError::Table)?;
        let head = &mut buf.as_mut_slice()[..4096];
        rawio::read_exact_at(self.source, head, 0).map_err(|source| InstallError::Io {
            device: name.clone(),
            partition: "mbr".into(),
            operation: "read source",
            offset: 0,
            source,
        })?;
        let boot_code = head[..440].to_vec();
        rawio::read_exact_at(self.target, head, 0).map_err(|source| InstallError::Io {
            device: name.clone(),
            partition: "mbr".into(),
            operation: "read",
            offset: 0,
            source,
        })?;
        head[..440].copy_from_slice(&boot_code);
        let written = copy::hex(&sha2::Sha256::digest(&*head));
        rawio::write_all_at(self.target, head, 0)
            .and_then(|()| self.target.sync_all())
            .map_err(|source| InstallError::Io {
                device: name.clone(),
                partition: "mbr".into(),
                operation: "write",
                offset: 0,
                source,
            })?;
        let read = copy::read_back(self.target, 0, 4096, buf, &mut |_| {})
            .map_err(|f| self.io("mbr", f))?;
        if read != written || buf.as_slice()[510..512] != [0x55, 0xAA] {
            return Err(InstallError::Mismatch {
                device: name,
                partition: "mbr".into(),
                written,
                read,
            });
        }
        let table = layout::read(path).map_err(InstallError::Table)?;
        let same =
            table.disk_uuid == self.plan.disk_uuid && table.partitions == self.plan.partitions;
        if !same {
            return Err(InstallError::TableMismatch {
                device: name,
                problem: format!(
                    "wanted {:?}, read {:?}",
                    self.plan.partitions, table.partitions
                ),
            });
        }
        Ok((
            table,
            Copied {
                partition: "mbr".into(),
                target_offset: 0,
                bytes: 440,
                sha256: written.clone(),
                readback_sha256: read,
            },
        ))
    }
}

/// Bytes done → the install's percentage within `[from, to]`, reported every 5 %.
struct Meter {
    stage: Stage,
    from: u8,
    to: u8,
    done: u64,
    total: u64,
}

impl Meter {
    fn now(&self) -> u8 {
        percent(self.from, self.to, self.done, self.total)
    }

    fn add(&mut self, n: u64, progress: &mut Progress) {
        let before = self.now();
        self.done += n;
        if self.now() / 5 != before / 5 {
            progress(self.stage, self.now(), "");
        }
    }
}

/// `from` + the share `done / total` of `to - from`.
fn percent(from: u8, to: u8, done: u64, total: u64) -> u8 {
    from + ((to - from) as u64 * done.min(total) / total) as u8
}
