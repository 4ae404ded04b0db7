//! The `panier hw …` and `panier flash` commands: clap `Args` structs and `run` functions,
//! so the agent's command tree wraps them in one line each (see `hw/README.md`).
//!
//! These commands work without the daemon (from the install USB stick, as root). Output
//! for people is in the chosen language (`--lang fr|en`, French by default); `--json`
//! prints the same data for programs. Exit codes: 0 success (or fit / fit with notes),
//! 1 failure (failed self-test, unverified wipe or flash), 2 unfit machine.
//! Destructive commands ask for the disk's serial on a terminal, or take
//! `--yes-i-know SERIAL`; without either they refuse.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::blockdev::{self, SafetyError};
use crate::capture::{self, CaptureError, CaptureOptions};
use crate::certificate::{CertificateError, VerifyMode};
use crate::describe;
use crate::flash::{self, FlashError};
use crate::host::Host;
use crate::html::human_bytes;
use crate::i18n::{Lang, Msg, tr};
use crate::report::{self, BoxLabel, ReportError};
use crate::selftest::{self, SelftestOptions};
use crate::verdict::Level;
use crate::wipe::{self, WipeError, WipeOptions};
use crate::{HardwareSummary, summarize};

pub const DEFAULT_DIR: &str = "/var/lib/panier/hw";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Wipe(#[from] WipeError),
    #[error(transparent)]
    Flash(#[from] FlashError),
    #[error(transparent)]
    Safety(#[from] SafetyError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("{0}")]
    Confirmation(String),
}

/// `panier hw …`
#[derive(Debug, Args)]
pub struct HwArgs {
    /// Language of the messages.
    #[arg(long, global = true, value_enum, default_value_t = Lang::Fr)]
    pub lang: Lang,
    #[command(subcommand)]
    pub command: HwCommand,
}

#[derive(Debug, Subcommand)]
pub enum HwCommand {
    /// What this machine is made of (machine, firmware, CPU, memory, disks, network, sensors).
    Probe(ProbeArgs),
    /// Can this machine become a Panier box? Fit, fit with notes, or unfit.
    Check(CheckArgs),
    /// Record this machine as a test fixture: the files and command outputs the probe reads.
    Capture(CaptureArgs),
    /// Bounded hardware tests: memory, disks, CPU under load, network links.
    Selftest(SelftestArgs),
    /// Erase a disk for reuse, verify, and write a wipe certificate.
    Wipe(WipeArgs),
    /// Printable refurbishment sheet plus one line in the CSV inventory.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// A new (or empty) directory to write the capture into.
    pub dir: PathBuf,
    /// Replace serial numbers and MAC addresses, the same way everywhere.
    #[arg(long)]
    pub anonymize: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Memory to test, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memory_mib: u64,
    /// Data to read from each disk, in MiB.
    #[arg(long, default_value_t = 256)]
    pub disk_sample_mib: u64,
    /// Seconds of CPU load.
    #[arg(long, default_value_t = 30)]
    pub cpu_seconds: u64,
    /// Skip the SMART short self-test.
    #[arg(long)]
    pub no_smart: bool,
    /// Give up on the SMART self-test after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub smart_timeout: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WipeArgs {
    /// The whole disk to erase (/dev/sdb, /dev/nvme0n1, /dev/disk/by-id/…).
    pub device: PathBuf,
    #[arg(long, value_enum, default_value_t = VerifyMode::Sample)]
    pub verify: VerifyMode,
    /// Random 64 KiB regions read back in sample mode.
    #[arg(long, default_value_t = 1024)]
    pub samples: u32,
    /// Confirm without a prompt by giving the disk's serial (its kernel name if it has none).
    #[arg(long, value_name = "SERIAL")]
    pub yes_i_know: Option<String>,
    /// Skip NVMe/ATA firmware erase; overwrite only.
    #[arg(long)]
    pub overwrite_only: bool,
    /// Where the certificates go.
    #[arg(long, default_value = DEFAULT_DIR)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The box's name (its address becomes http://NAME.local).
    #[arg(long)]
    pub name: String,
    /// The one-time setup code shown at first boot.
    #[arg(long)]
    pub setup_code: String,
    /// Directory holding the wipe certificates.
    #[arg(long, default_value = DEFAULT_DIR)]
    pub certificates: PathBuf,
    /// The sheet to write (default: DIR/sheet-NAME.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The CSV inventory to append to (default: DIR/inventory.csv).
    #[arg(long)]
    pub inventory: Option<PathBuf>,
}

/// `panier flash IMAGE DEVICE`
#[derive(Debug, Args)]
pub struct FlashArgs {
    /// Raw disk image.
    pub image: PathBuf,
    /// The whole disk to write.
    pub device: PathBuf,
    #[arg(long, value_name = "SERIAL")]
    pub yes_i_know: Option<String>,
    #[arg(long, value_enum, default_value_t = Lang::Fr)]
    pub lang: Lang,
    #[arg(long)]
    pub json: bool,
}

fn print_line(line: &str) {
    println!("{line}");
}

fn json_out<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serializable")
    );
}

pub fn run(args: HwArgs) -> Result<ExitCode, CliError> {
    let lang = args.lang;
    let host = Host::system();
    match args.command {
        HwCommand::Probe(a) => {
            let s = summarize(&host, lang);
            if a.json {
                json_out(&s.probe)
            } else {
                print_probe(&s, lang)
            }
            Ok(ExitCode::SUCCESS)
        }
        HwCommand::Check(a) => {
            let s = summarize(&host, lang);
            if a.json {
                json_out(&s.verdict)
            } else {
                println!("{}", labelled(lang, Msg::LabelVerdict, &s.verdict.label));
                for f in &s.verdict.findings {
                    println!("  [{}] {}", f.severity.label(lang), f.message);
                }
            }
            Ok(if s.verdict.level == Level::Unfit {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        HwCommand::Capture(a) => {
            let report = capture::capture_system(
                &a.dir,
                &CaptureOptions {
                    anonymize: a.anonymize,
                },
            )?;
            if a.json {
                json_out(&report)
            } else {
                print_capture(&report, a.anonymize, lang)
            }
            Ok(if report.mismatch.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        HwCommand::Selftest(a) => {
            let options = SelftestOptions {
                memory_mib: a.memory_mib,
                disk_sample_mib: a.disk_sample_mib,
                cpu_seconds: a.cpu_seconds,
                smart: !a.no_smart,
                smart_timeout: Duration::from_secs(a.smart_timeout),
                lang,
                ..SelftestOptions::default()
            };
            let json = a.json;
            let mut progress = |line: &str| {
                if !json {
                    print_line(line)
                }
            };
            let summary = selftest::run(&host, &options, &mut progress);
            if a.json {
                json_out(&summary)
            } else {
                println!("{}", selftest::summary_line(lang, &summary))
            }
            Ok(if summary.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        HwCommand::Wipe(a) => {
            let confirmation = confirm(&host, &a.device, a.yes_i_know.as_deref(), lang)?;
            let options = WipeOptions {
                verify: a.verify,
                samples: a.samples,
                firmware_methods: !a.overwrite_only,
                lang,
            };
            let cert = wipe::wipe(&host, &a.device, &confirmation, &options, &mut print_line)?;
            let (json, html) = cert.save(&a.out, lang)?;
            if cert.passed {
                println!(
                    "{}",
                    tr(
                        lang,
                        Msg::WipeDone,
                        &[("json", &json.display()), ("html", &html.display())]
                    )
                );
                Ok(ExitCode::SUCCESS)
            } else {
                let offset = cert
                    .verification
                    .as_ref()
                    .and_then(|v| v.first_nonzero_offset)
                    .unwrap_or(0);
                println!(
                    "{}",
                    tr(
                        lang,
                        Msg::WipeNotVerified,
                        &[("offset", &offset), ("json", &json.display())]
                    )
                );
                Ok(ExitCode::FAILURE)
            }
        }
        HwCommand::Report(a) => {
            let label = BoxLabel::new(&a.name, &a.setup_code)?;
            let written = report::write(&host, &a.certificates, &label, a.out, a.inventory, lang)?;
            println!(
                "{}",
                tr(
                    lang,
                    Msg::ReportWritten,
                    &[
                        ("html", &written.sheet.display()),
                        ("csv", &written.inventory.display())
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_flash(args: FlashArgs) -> Result<ExitCode, CliError> {
    let host = Host::system();
    let confirmation = confirm(&host, &args.device, args.yes_i_know.as_deref(), args.lang)?;
    let json = args.json;
    let mut progress = |line: &str| {
        if !json {
            print_line(line)
        }
    };
    let report = flash::flash(
        &args.image,
        &args.device,
        &confirmation,
        args.lang,
        &mut progress,
    )?;
    if args.json {
        json_out(&report);
    }
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The operator's confirmation: `--yes-i-know`, or the serial typed on a terminal.
/// (The safety gate compares it; this only collects it.)
fn confirm(
    host: &Host,
    device: &Path,
    given: Option<&str>,
    lang: Lang,
) -> Result<String, CliError> {
    if let Some(given) = given {
        return Ok(given.to_string());
    }
    let name = blockdev::resolve(host, device)?;
    blockdev::check_not_in_use(host, &name)?;
    let id = blockdev::identity(host, &name);
    let serial = id.confirmation_token().to_string();
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Confirmation(tr(
            lang,
            Msg::ConfirmNeeded,
            &[("serial", &serial)],
        )));
    }
    print!(
        "{}",
        tr(
            lang,
            Msg::ConfirmPrompt,
            &[
                ("disk", &id.path),
                ("model", &id.model.clone().unwrap_or_default()),
                ("size", &human_bytes(id.size_bytes)),
                ("serial", &serial)
            ]
        )
    );
    let _ = std::io::stdout().flush();
    let mut typed = String::new();
    let _ = std::io::stdin().lock().read_line(&mut typed);
    Ok(typed.trim().to_string())
}

fn print_capture(report: &capture::CaptureReport, anonymized: bool, lang: Lang) {
    let dir = report.dir.display();
    println!(
        "{}",
        tr(
            lang,
            Msg::CaptureWritten,
            &[
                ("dir", &dir),
                ("files", &report.files),
                ("commands", &report.commands)
            ]
        )
    );
    println!(
        "{}",
        tr(
            lang,
            if anonymized {
                Msg::CaptureAnonymized
            } else {
                Msg::CaptureContains
            },
            &[]
        )
    );
    for note in &report.notes {
        println!("  ! {note}");
    }
    if !report.mismatch.is_empty() {
        println!(
            "{}",
            tr(
                lang,
                Msg::CaptureMismatch,
                &[("parts", &report.mismatch.join(", "))]
            )
        );
    }
}

/// "Verdict : apte" / "Verdict: fit" (French puts a space before the colon).
fn labelled(lang: Lang, label: Msg, value: &str) -> String {
    format!(
        "{}{} {value}",
        tr(lang, label, &[]),
        if lang == Lang::Fr { " :" } else { ":" }
    )
}

fn print_probe(s: &HardwareSummary, lang: Lang) {
    let p = &s.probe;
    let t = |msg| tr(lang, msg, &[]);
    let line = |label: Msg, value: &str| println!("{}", labelled(lang, label, value));
    let serial = p
        .machine
        .serial
        .clone()
        .unwrap_or_else(|| t(Msg::WordUnknown));
    line(
        Msg::LabelMachine,
        &format!(
            "{} ({} {serial})",
            describe::machine(p, lang),
            t(Msg::WordSerial)
        ),
    );
    line(Msg::LabelFirmware, &describe::firmware(p, lang));
    line(Msg::LabelCpu, &describe::cpu(&p.cpu, lang));
    line(Msg::LabelMemory, &describe::memory(p));
    for d in &p.disks {
        line(
            Msg::LabelDisks,
            &format!("{} — {}", d.identity.name, describe::disk(d, lang)),
        );
        println!("  {}", describe::health(d.health.as_ref(), lang));
    }
    for n in &p.nics {
        line(
            Msg::LabelNetwork,
            &format!("{} — {}", n.name, describe::nic(n, lang)),
        );
    }
    if let Some(temp) = p.cpu_temperature_c {
        line(Msg::LabelTemperature, &format!("{temp:.0} °C"));
    }
    if let Some(b) = &p.battery {
        line(Msg::LabelBattery, &describe::battery(b, lang));
    }
    for note in &p.notes {
        println!("  ! {note}");
    }
}
