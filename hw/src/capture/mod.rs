//! `panier hw capture DIR`: this machine as a fixture, in the format the tests read
//! (`hw/testdata/machines/<name>/`), so that a workshop can send a machine Panier does not
//! know yet and it can be added to the models database and the tests.
//!
//! Made by construction: the real probe runs through a recording [`Host`] (plus the wipe's
//! choice of firmware method for each disk, which asks NVMe disks for their Identify
//! Controller data and runs `hdparm -I`), and
//! the capture holds what that host handed out, no more:
//! - `root/`: each file the probe read, with the bytes it read, each directory it listed and
//!   each link it followed, at the same place (see [`tree`]);
//! - `empty-dirs.txt`: the directories in `root/` that hold nothing (git keeps none);
//! - `unreadable.txt` (when needed): files that exist but could not be read;
//! - `commands.toml` and one file per output: every command the probe ran, with its exit
//!   status, standard output and standard error, and `missing` for tools not installed; each
//!   NVMe disk's Identify Controller data (`nvme-identify-<disk>.bin`) or why it failed;
//! - `probe.json`: the probe as the capturing machine saw it.
//!
//! Before it is kept, the capture is probed again: a capture whose probe differs from the
//! machine's (anonymized the same way) is still written, and [`CaptureReport::mismatch`] says
//! which parts differ.
//!
//! What a capture reveals: the machine's make, model, DMI serial number and firmware
//! version; the CPU and memory (with the memory modules' serial numbers when dmidecode lists
//! them); each disk's model, serial number, size, SMART data and partition layout (sizes,
//! device numbers); the network cards' names, drivers and MAC addresses; the mount table
//! (`/proc/self/mountinfo`: mount points and file system types). It holds no file contents
//! from the disks, no home directory, no host name, no address, no password or key: the
//! probe reads none. `--anonymize` replaces the serial numbers and MAC addresses
//! ([`anonymize`]).
//!
//! Limits: a command that could not be run for another reason than being absent is left
//! out (a fixture answers it with "not captured"). When `/` is on a loop device, the probe
//! follows the loop's backing file on the live system only, so the capture's probe differs
//! (and says so).

pub mod anonymize;
mod tree;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::host::{Access, CommandOutcome, Host, IdentifyCapture};
use crate::i18n::Lang;
use crate::probe::{self, Probe};
use crate::wipe;

pub use anonymize::Anonymizer;

#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    pub anonymize: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureReport {
    pub dir: PathBuf,
    /// The probe the capture holds (anonymized when asked).
    pub probe: Probe,
    /// Files under `root/`.
    pub files: usize,
    /// Commands whose output was kept, and tools found missing.
    pub commands: usize,
    /// Values `--anonymize` replaced: (original, stand-in).
    #[serde(skip)]
    pub replacements: Vec<(String, String)>,
    /// Parts of the probe (`machine`, `disks`…) where probing the capture gives something
    /// else than probing the machine; empty when the capture is faithful.
    pub mismatch: Vec<String>,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path} already exists and is not empty: a capture goes into a new directory")]
    NotEmpty { path: PathBuf },
    #[error("cannot write the capture in {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the capture back from {path}: {message}")]
    ReadBack { path: PathBuf, message: String },
}

/// Captures the machine we run on into `dir` (a new or empty directory).
pub fn capture_system(dir: &Path, options: &CaptureOptions) -> Result<CaptureReport, CaptureError> {
    capture(Host::system(), dir, options)
}

/// Captures the machine `source` sees (the tests capture fixture machines).
pub fn capture(
    source: Host,
    dir: &Path,
    options: &CaptureOptions,
) -> Result<CaptureReport, CaptureError> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(CaptureError::NotEmpty {
            path: dir.to_path_buf(),
        });
    }
    let host = source.recording();
    let root = host.root();
    let live = probe::probe(&host);
    for disk in &live.disks {
        wipe::firmware_plan(&host, &disk.identity, Lang::En);
    }
    let accesses = host.trail().map(|t| t.accesses()).unwrap_or_default();
    let anonymizer = if options.anonymize {
        Anonymizer::new(&live, &accesses)
    } else {
        Anonymizer::default()
    };
    let edit = |bytes: &[u8]| anonymizer.apply_bytes(bytes);
    let probe_json =
        anonymizer.apply(&serde_json::to_string_pretty(&live).expect("a probe serializes"));
    let probe: Probe = serde_json::from_str(&probe_json).expect("an anonymized probe parses");

    // Written beside `dir`, then renamed: a capture is there whole or not at all.
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".into());
    let partial = dir.with_file_name(format!(".{name}.partial"));
    let write_err = |source| CaptureError::Write {
        path: partial.clone(),
        source,
    };
    let _ = std::fs::remove_dir_all(&partial);
    let partial_root = partial.join("root");
    std::fs::create_dir_all(&partial_root).map_err(write_err)?;
    let mut tree = tree::Tree::new(root, &partial_root, &edit);
    tree.write(&accesses).map_err(write_err)?;
    let files = tree.files;
    if !tree.unreadable.is_empty() {
        let list: String = tree.unreadable.iter().map(|p| format!("{p}\n")).collect();
        write(&partial.join("unreadable.txt"), &list).map_err(write_err)?;
    }
    let (commands, notes) = write_commands(&partial, &accesses, &anonymizer).map_err(write_err)?;
    let empty = tree::empty_dirs(&partial_root).map_err(write_err)?;
    let empty_list: String = empty.iter().map(|d| format!("{d}\n")).collect();
    write(&partial.join("empty-dirs.txt"), &empty_list).map_err(write_err)?;
    write(&partial.join("probe.json"), &format!("{probe_json}\n")).map_err(write_err)?;

    let reread = Host::fixture(&partial).map_err(|e| CaptureError::ReadBack {
        path: partial.clone(),
        message: e.to_string(),
    })?;
    let mismatch = differences(&probe, &probe::probe(&reread));

    if dir.exists() {
        std::fs::remove_dir(dir).map_err(|source| CaptureError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::rename(&partial, dir).map_err(|source| CaptureError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(CaptureReport {
        dir: dir.to_path_buf(),
        probe,
        files,
        commands,
        replacements: anonymizer.replacements().to_vec(),
        mismatch,
        notes,
    })
}

#[derive(Serialize)]
struct CommandList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<String>,
    command: Vec<CommandEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nvme_identify: Vec<IdentifyCapture>,
}

#[derive(Serialize)]
struct CommandEntry {
    argv: Vec<String>,
    stdout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr: Option<String>,
    status: i32,
}

/// `commands.toml` and the outputs; returns how many commands it holds and notes on the
/// ones left out.
fn write_commands(
    dir: &Path,
    accesses: &[Access],
    anonymizer: &Anonymizer,
) -> std::io::Result<(usize, Vec<String>)> {
    let mut list = CommandList {
        missing: Vec::new(),
        command: Vec::new(),
        nvme_identify: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut notes = Vec::new();
    for access in accesses {
        if let Access::NvmeIdentify { device, outcome } = access {
            if list.nvme_identify.iter().any(|e| &e.device == device) {
                continue;
            }
            let entry = match outcome {
                Ok(data) => {
                    let file = format!(
                        "nvme-identify-{}.bin",
                        device.rsplit('/').next().unwrap_or(device)
                    );
                    std::fs::write(dir.join(&file), anonymizer.apply_bytes(data))
                        .map_err(|e| tree::naming(&dir.join(&file), e))?;
                    IdentifyCapture {
                        device: device.clone(),
                        data: Some(file),
                        error: None,
                    }
                }
                Err(why) => IdentifyCapture {
                    device: device.clone(),
                    data: None,
                    error: Some(why.clone()),
                },
            };
            list.nvme_identify.push(entry);
            continue;
        }
        let Access::Command { argv, outcome } = access else {
            continue;
        };
        if !seen.insert(argv.clone()) {
            continue;
        }
        match outcome {
            CommandOutcome::Missing => {
                if !list.missing.contains(&argv[0]) {
                    list.missing.push(argv[0].clone());
                }
            }
            CommandOutcome::Failed(why) => {
                notes.push(format!("`{}` left out: {why}", argv.join(" ")))
            }
            CommandOutcome::Ran {
                status,
                stdout,
                stderr,
            } => {
                let stem = output_stem(argv, &mut names);
                let ext = if stdout.trim_start().starts_with('{') {
                    "json"
                } else {
                    "txt"
                };
                let stdout_file = format!("{stem}.{ext}");
                write(&dir.join(&stdout_file), &anonymizer.apply(stdout))?;
                let stderr_file = (!stderr.is_empty()).then(|| format!("{stem}.stderr.txt"));
                if let Some(file) = &stderr_file {
                    write(&dir.join(file), &anonymizer.apply(stderr))?;
                }
                list.command.push(CommandEntry {
                    argv: argv.clone(),
                    stdout: stdout_file,
                    stderr: stderr_file,
                    status: *status,
                });
            }
        }
    }
    let count = list.command.len() + list.missing.len() + list.nvme_identify.len();
    let text = toml::to_string(&list).map_err(std::io::Error::other)?;
    let header = "# Commands the probe ran, with their captured outputs (`panier hw capture`).\n\n";
    write(&dir.join("commands.toml"), &format!("{header}{text}"))?;
    Ok((count, notes))
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text).map_err(|e| tree::naming(path, e))
}

/// A file name from a command line: `smartctl --json=c --all /dev/sda` → `smartctl-sda`,
/// `dmidecode -t 17` → `dmidecode-17`, `hdparm -I /dev/sda` → `hdparm-sda`.
fn output_stem(argv: &[String], taken: &mut BTreeSet<String>) -> String {
    let words = argv[1..]
        .iter()
        .filter(|a| !a.starts_with('-') && a.as_str() != "json")
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string());
    let base: String = std::iter::once(argv[0].clone())
        .chain(words)
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut stem = base.clone();
    let mut n = 2;
    while !taken.insert(stem.clone()) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    stem
}

/// Top-level parts of two probes that differ (`machine`, `disks`, `notes`…).
pub fn differences(a: &Probe, b: &Probe) -> Vec<String> {
    let (a, b) = (
        serde_json::to_value(a).expect("serializes"),
        serde_json::to_value(b).expect("serializes"),
    );
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["probe".into()];
    };
    a.keys()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_say_which_command_and_device() {
        let mut taken = BTreeSet::new();
        let argv = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            output_stem(&argv("smartctl --json=c --all /dev/nvme0n1"), &mut taken),
            "smartctl-nvme0n1"
        );
        assert_eq!(
            output_stem(&argv("dmidecode -t 17"), &mut taken),
            "dmidecode-17"
        );
        assert_eq!(
            output_stem(&argv("hdparm -I /dev/sda"), &mut taken),
            "hdparm-sda"
        );
        assert_eq!(
            output_stem(&argv("dmidecode -t 17"), &mut taken),
            "dmidecode-17-2"
        );
    }
}
