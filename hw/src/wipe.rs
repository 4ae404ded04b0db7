//! `panier hw wipe DEVICE`: erase a disk for reuse, verify, and certify.
//!
//! Owns the choice of erase method and its execution. Order of preference: NVMe sanitize
//! (crypto, then block erase), NVMe format with secure erase (crypto, then user data), ATA
//! SECURITY ERASE UNIT (enhanced, then normal) when supported and not frozen, and always
//! as the last resort a discard plus a full overwrite with zeros. A firmware method that
//! fails falls through to the next one.
//!
//! Invariants: nothing is written before [`crate::blockdev::claim_for_destruction`] has
//! accepted the disk (not the system disk, not mounted, serial confirmed, exclusive open),
//! and the exclusive handle is held until the certificate is made. Verification always
//! checks that the disk reads back as zeros through `O_DIRECT` (not the page cache); when a
//! firmware erase leaves non-zero data (crypto erase on many drives) we overwrite and verify
//! again, so a passed certificate always means "reads as zeros".
//! NVMe commands go straight to the controller ([`crate::nvme`]: no nvme-cli); ATA security
//! commands through `hdparm`.
//!
//! Limits: NVMe Format runs for real in the QEMU suite (QEMU's controller formats with a
//! user-data erase); NVMe sanitize and ATA secure erase can only be exercised on real
//! hardware, and their selection logic is tested on captured and hand-made outputs.
//! A frozen ATA disk needs a suspend/resume cycle or a hot-plug, which we only advise.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::blockdev::{self, DiskIdentity, SafetyError, Transport};
use crate::certificate::{Verification, VerifyMode, WipeCertificate, WipeStep, method_label};
use crate::host::Host;
use crate::i18n::{Lang, Msg, tr};
use crate::nvme;
use crate::rawio::{self, AlignedBuf};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    NvmeSanitizeCrypto,
    NvmeSanitizeBlock,
    NvmeFormatCrypto,
    NvmeFormatUserData,
    AtaSecureEraseEnhanced,
    AtaSecureErase,
    DiscardAndOverwrite,
}

#[derive(Debug, thiserror::Error)]
pub enum WipeError {
    #[error(transparent)]
    Refused(#[from] SafetyError),
    #[error("{device}: {operation} failed at byte {offset}: {source}")]
    Io {
        device: String,
        operation: &'static str,
        offset: u64,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct WipeOptions {
    pub verify: VerifyMode,
    /// Random 64 KiB regions read in `Sample` mode (plus the first and last MiB).
    pub samples: u32,
    /// Try NVMe/ATA firmware erase before overwriting.
    pub firmware_methods: bool,
    pub lang: Lang,
}

impl Default for WipeOptions {
    fn default() -> Self {
        Self {
            verify: VerifyMode::Sample,
            samples: 1024,
            firmware_methods: true,
            lang: Lang::Fr,
        }
    }
}

/// ATA security state, from `hdparm -I`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtaSecurity {
    pub supported: bool,
    pub enabled: bool,
    pub locked: bool,
    pub frozen: bool,
    pub enhanced: bool,
}

pub fn parse_hdparm_security(text: &str) -> AtaSecurity {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Security:"));
    if lines.next().is_none() {
        return AtaSecurity::default();
    }
    let section: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with(char::is_whitespace))
        .collect();
    let has = |word: &str| {
        section
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [word])
    };
    AtaSecurity {
        supported: has("supported"),
        enabled: has("enabled"),
        locked: has("locked"),
        frozen: has("frozen"),
        enhanced: section
            .iter()
            .any(|l| l.contains("supported: enhanced erase")),
    }
}

/// Firmware methods worth trying on this disk, best first, and notes on why others are not.
pub fn firmware_plan(host: &Host, disk: &DiskIdentity, lang: Lang) -> (Vec<Method>, Vec<String>) {
    let mut methods = Vec::new();
    let mut notes = Vec::new();
    match disk.transport {
        Transport::Nvme => match host
            .nvme_identify(&disk.path)
            .ok()
            .and_then(|data| nvme::Controller::parse(&data))
        {
            Some(c) => {
                let wanted = [
                    (c.sanitize_crypto, Method::NvmeSanitizeCrypto),
                    (c.sanitize_block, Method::NvmeSanitizeBlock),
                    (c.format_crypto, Method::NvmeFormatCrypto),
                    (c.format, Method::NvmeFormatUserData),
                ];
                methods.extend(wanted.into_iter().filter(|(ok, _)| *ok).map(|(_, m)| m));
            }
            None => notes.push(tr(lang, Msg::WipeNoNvmeCaps, &[("disk", &disk.name)])),
        },
        Transport::Ata => match host.run("hdparm", &["-I", &disk.path]) {
            Ok(out) => {
                let sec = parse_hdparm_security(&out.stdout);
                if !sec.supported {
                    notes.push(tr(lang, Msg::WipeAtaUnsupported, &[("disk", &disk.name)]));
                } else if sec.frozen {
                    notes.push(tr(lang, Msg::WipeAtaFrozen, &[("disk", &disk.name)]));
                } else if sec.locked || sec.enabled {
                    notes.push(tr(lang, Msg::WipeAtaLocked, &[("disk", &disk.name)]));
                } else {
                    if sec.enhanced {
                        methods.push(Method::AtaSecureEraseEnhanced);
                    }
                    methods.push(Method::AtaSecureErase);
                }
            }
            Err(e) => notes.push(format!("hdparm: {e}")),
        },
        _ => {}
    }
    (methods, notes)
}

const ATA_PASSWORD: &str = "PanierWipe";

/// Runs one firmware method on the claimed disk (`file`, held exclusively).
fn run_firmware(
    host: &Host,
    file: &std::fs::File,
    disk: &DiskIdentity,
    method: Method,
    lang: Lang,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let check = |out: Result<crate::host::CommandOutput, crate::host::CommandError>| match out {
        Ok(o) if o.status == 0 => Ok(o.stdout),
        Ok(o) => Err(format!("status {}: {}", o.status, o.stderr.trim())),
        Err(e) => Err(e.to_string()),
    };
    match method {
        Method::NvmeSanitizeCrypto | Method::NvmeSanitizeBlock => {
            let action = if method == Method::NvmeSanitizeCrypto {
                nvme::SanitizeAction::CryptoErase
            } else {
                nvme::SanitizeAction::BlockErase
            };
            nvme::sanitize(file, action).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + std::time::Duration::from_secs(4 * 3600);
            let mut last_tenth = None;
            loop {
                std::thread::sleep(std::time::Duration::from_secs(2));
                match nvme::sanitize_status(file).map_err(|e| e.to_string())? {
                    nvme::SanitizeStatus::Done => return Ok(()),
                    nvme::SanitizeStatus::Running(done) if Instant::now() < deadline => {
                        let pct = (done * 100.0) as u64;
                        if last_tenth != Some(pct / 10) {
                            last_tenth = Some(pct / 10);
                            progress(&tr(
                                lang,
                                Msg::WipeSanitizeProgress,
                                &[("disk", &disk.name), ("pct", &pct)],
                            ));
                        }
                    }
                    nvme::SanitizeStatus::Running(_) => {
                        return Err("the sanitize did not end within 4 hours".into());
                    }
                    nvme::SanitizeStatus::Failed => {
                        return Err("the drive reports the sanitize failed".into());
                    }
                    other => return Err(format!("unexpected sanitize status {other:?}")),
                }
            }
        }
        Method::NvmeFormatCrypto | Method::NvmeFormatUserData => {
            let erase = if method == Method::NvmeFormatCrypto {
                nvme::EraseSetting::Crypto
            } else {
                nvme::EraseSetting::UserData
            };
            nvme::format(file, erase).map_err(|e| e.to_string())
        }
        Method::AtaSecureEraseEnhanced | Method::AtaSecureErase => {
            check(host.run(
                "hdparm",
                &[
                    "--user-master",
                    "u",
                    "--security-set-pass",
                    ATA_PASSWORD,
                    &disk.path,
                ],
            ))?;
            let flag = if method == Method::AtaSecureEraseEnhanced {
                "--security-erase-enhanced"
            } else {
                "--security-erase"
            };
            let result = check(host.run(
                "hdparm",
                &["--user-master", "u", flag, ATA_PASSWORD, &disk.path],
            ));
            if result.is_err() {
                // Never leave a donor's disk locked with our password.
                let _ = host.run(
                    "hdparm",
                    &[
                        "--user-master",
                        "u",
                        "--security-disable",
                        ATA_PASSWORD,
                        &disk.path,
                    ],
                );
            }
            result.map(|_| ())
        }
        Method::DiscardAndOverwrite => unreachable!("not a firmware method"),
    }
}

const CHUNK: usize = 4 << 20;

/// Discards then writes zeros over the whole disk.
fn overwrite(
    file: &std::fs::File,
    disk: &DiskIdentity,
    lang: Lang,
    progress: &mut dyn FnMut(&str),
) -> Result<(), WipeError> {
    let size = disk.size_bytes;
    let io = |operation, offset| {
        move |source| WipeError::Io {
            device: disk.name.clone(),
            operation,
            offset,
            source,
        }
    };
    match rawio::discard(file, 0, size) {
        Ok(()) => progress(&tr(lang, Msg::WipeDiscarded, &[("disk", &disk.name)])),
        Err(e) if rawio::is_unsupported(&e) => {}
        Err(e) => return Err(io("discard", 0)(e)),
    }
    let buf = AlignedBuf::new(CHUNK);
    let mut offset = 0u64;
    let mut last_pct = u64::MAX;
    while offset < size {
        let len = (size - offset).min(CHUNK as u64) as usize;
        rawio::write_all_at(file, &buf.as_slice()[..len], offset).map_err(io("write", offset))?;
        offset += len as u64;
        let pct = offset * 100 / size;
        if pct / 10 != last_pct / 10 {
            last_pct = pct;
            progress(&tr(
                lang,
                Msg::WipeOverwriteProgress,
                &[("disk", &disk.name), ("pct", &pct)],
            ));
        }
    }
    file.sync_all().map_err(io("sync", size))
}

/// Reads the disk back and checks it is all zeros.
pub fn verify_zeros(
    file: &std::fs::File,
    device: &str,
    size: u64,
    mode: VerifyMode,
    samples: u32,
    seed: u64,
) -> Result<Verification, WipeError> {
    let started = Instant::now();
    let io = |offset| {
        move |source| WipeError::Io {
            device: device.to_string(),
            operation: "read",
            offset,
            source,
        }
    };
    let mut regions: Vec<(u64, usize)> = Vec::new();
    match mode {
        VerifyMode::Full => {
            let mut offset = 0;
            while offset < size {
                let len = (size - offset).min(CHUNK as u64) as usize;
                regions.push((offset, len));
                offset += len as u64;
            }
        }
        VerifyMode::Sample => {
            const MIB: u64 = 1 << 20;
            const REGION: u64 = 64 << 10;
            regions.push((0, size.min(MIB) as usize));
            if size > MIB {
                let start = size.saturating_sub(MIB).max(MIB) / 4096 * 4096;
                regions.push((start, (size - start) as usize));
            }
            let mut state = seed | 1;
            let slots = size / REGION;
            for _ in 0..samples.min(slots as u32) {
                // xorshift64: a cheap, seeded spread over the whole disk.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let offset = (state % slots) * REGION;
                regions.push((offset, (size - offset).min(REGION) as usize));
            }
        }
    }
    let mut buf = AlignedBuf::new(
        regions
            .iter()
            .map(|r| r.1)
            .max()
            .unwrap_or(0)
            .next_multiple_of(4096),
    );
    let mut verification = Verification {
        mode,
        regions_checked: 0,
        bytes_checked: 0,
        first_nonzero_offset: None,
        passed: true,
        seconds: 0.0,
    };
    for (offset, len) in regions {
        let slice = &mut buf.as_mut_slice()[..len];
        rawio::read_exact_at(file, slice, offset).map_err(io(offset))?;
        verification.regions_checked += 1;
        verification.bytes_checked += len as u64;
        if let Some(at) = rawio::first_nonzero(slice) {
            verification.first_nonzero_offset = Some(offset + at as u64);
            verification.passed = false;
            break;
        }
    }
    verification.seconds = started.elapsed().as_secs_f64();
    Ok(verification)
}

/// Erases `device` after the safety gate accepted it; returns the certificate (also when
/// verification failed: `passed` says so).
pub fn wipe(
    host: &Host,
    device: &Path,
    confirmation: &str,
    options: &WipeOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<WipeCertificate, WipeError> {
    let lang = options.lang;
    let claimed = blockdev::claim_for_destruction(&Host::system(), device, confirmation)?;
    let disk = claimed.identity.clone();
    let mut cert = WipeCertificate::start(disk.clone());
    progress(&tr(
        lang,
        Msg::WipeStart,
        &[
            ("disk", &disk.name),
            ("model", &disk.model.clone().unwrap_or_default()),
        ],
    ));
    let (methods, notes) = if options.firmware_methods {
        firmware_plan(host, &disk, lang)
    } else {
        (Vec::new(), Vec::new())
    };
    for note in notes {
        progress(&note);
        cert.notes.push(note);
    }
    let seed = cert.seed();
    for method in methods {
        progress(&tr(
            lang,
            Msg::WipeTrying,
            &[("method", &method_label(method, lang))],
        ));
        let step = WipeStep::begin(method);
        match run_firmware(host, &claimed.file, &disk, method, lang, progress) {
            Ok(()) => {
                cert.steps.push(step.end(None));
                let v = verify_zeros(
                    &claimed.file,
                    &disk.name,
                    disk.size_bytes,
                    options.verify,
                    options.samples,
                    seed,
                )?;
                if v.passed {
                    return Ok(cert.finish(method, v));
                }
                let note = tr(
                    lang,
                    Msg::WipeFirmwareNotZero,
                    &[("method", &method_label(method, lang))],
                );
                progress(&note);
                cert.notes.push(note);
                break;
            }
            Err(reason) => {
                progress(&tr(
                    lang,
                    Msg::WipeMethodFailed,
                    &[("method", &method_label(method, lang)), ("reason", &reason)],
                ));
                cert.steps.push(step.end(Some(reason)));
            }
        }
    }
    let step = WipeStep::begin(Method::DiscardAndOverwrite);
    overwrite(&claimed.file, &disk, lang, progress)?;
    cert.steps.push(step.end(None));
    progress(&tr(lang, Msg::WipeVerifying, &[("disk", &disk.name)]));
    let v = verify_zeros(
        &claimed.file,
        &disk.name,
        disk.size_bytes,
        options.verify,
        options.samples,
        seed,
    )?;
    Ok(cert.finish(Method::DiscardAndOverwrite, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{CommandError, CommandOutput, CommandRunner};

    /// An NVMe disk that answers Identify with the bytes it holds, and no tools.
    struct Identify(Vec<u8>);

    impl CommandRunner for Identify {
        fn run(&self, program: &str, _: &[&str]) -> Result<CommandOutput, CommandError> {
            Err(CommandError::Missing {
                program: program.to_string(),
            })
        }

        fn nvme_identify(&self, _: &str) -> Result<Vec<u8>, CommandError> {
            Ok(self.0.clone())
        }
    }

    fn plan(identify: Vec<u8>) -> (Vec<Method>, Vec<String>) {
        let host = Host::new("/nonexistent", Box::new(Identify(identify)));
        let disk = DiskIdentity {
            name: "nvme0n1".into(),
            path: "/dev/nvme0n1".into(),
            model: Some("M".into()),
            serial: Some("S".into()),
            size_bytes: 256 << 30,
            transport: Transport::Nvme,
            rotational: false,
            removable: false,
        };
        firmware_plan(&host, &disk, Lang::En)
    }

    #[test]
    fn nvme_methods_come_from_identify_best_first() {
        use Method::*;
        let all = nvme::controller_data("S", "M", 0x2, 0x3, 0x4);
        assert_eq!(
            plan(all).0,
            [
                NvmeSanitizeCrypto,
                NvmeSanitizeBlock,
                NvmeFormatCrypto,
                NvmeFormatUserData
            ]
        );
        assert_eq!(
            plan(nvme::controller_data("S", "M", 0x0, 0x2, 0x4)).0,
            [NvmeSanitizeBlock]
        );
        assert_eq!(
            plan(nvme::controller_data("S", "M", 0x0, 0x0, 0x0)),
            (vec![], vec![]),
            "nothing the controller can do: overwrite"
        );
        let (methods, notes) = plan(vec![0; 512]);
        assert!(methods.is_empty());
        assert_eq!(
            notes,
            ["nvme0n1: NVMe capabilities unreadable, erasing by overwrite."]
        );
    }
}
