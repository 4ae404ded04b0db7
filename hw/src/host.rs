//! Where hardware facts come from: a filesystem root and a command runner.
//!
//! Owns [`Host`], the single handle every probe and self-test reads through. On a real box
//! the root is `/` and commands run for real ([`SystemCommands`]); in tests the root is a
//! fixture tree (`hw/testdata/machines/<name>/root`) and commands answer from captured
//! outputs listed in `commands.toml` ([`CapturedCommands`]). NVMe Identify Controller data,
//! which comes from an ioctl and not from a tool, goes the same way: sent for real, or read
//! from the file `commands.toml` names for that disk.
//!
//! Invariants: paths handed to [`Host::read`] are absolute system paths (`/sys/...`); they
//! are re-rooted, never read from the real system when a fixture root is set. A command
//! that is not installed is reported as [`CommandError::Missing`] so callers can degrade to
//! a partial result with a note instead of failing.
//!
//! A recording host ([`Host::recording`]) also keeps a [`Trail`] of every fact it handed out
//! (file read, directory listed, existence checked, link read, command run), with the value
//! it returned; `capture` turns that trail into a fixture. So every read must go through
//! these methods, never `std::fs` on [`Host::path`], or a capture would miss it.
//!
//! Limits: captured commands are matched on their exact argument list; there is no
//! simulation of timing or of state changes between calls (self-test polling is tested
//! with a scripted runner in its own tests).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Output of a command that ran (whatever its exit status).
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("`{program}` is not installed")]
    Missing { program: String },
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("no captured output for `{command}`")]
    NotCaptured { command: String },
    #[error("cannot read captured output {path}: {source}")]
    Capture { path: PathBuf, source: io::Error },
    #[error("invalid capture list {path}: {message}")]
    CaptureList { path: PathBuf, message: String },
}

/// Runs external tools (smartctl, dmidecode, hdparm), and asks NVMe disks who they are.
pub trait CommandRunner: Send + Sync {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError>;

    /// The Identify Controller data of the NVMe disk `device` (`/dev/nvme0n1`).
    fn nvme_identify(&self, device: &str) -> Result<Vec<u8>, CommandError> {
        Err(CommandError::NotCaptured {
            command: identify_command(device),
        })
    }
}

/// Runs commands for real, looking them up in `PATH` plus the sbin directories (the tools
/// live in `/usr/sbin`, which is not in every user's `PATH`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemCommands;

impl SystemCommands {
    fn locate(program: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    }
}

impl CommandRunner for SystemCommands {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        let exe = Self::locate(program).ok_or_else(|| CommandError::Missing {
            program: program.to_string(),
        })?;
        let output = Command::new(&exe)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .map_err(|source| CommandError::Spawn {
                command: command_line(program, args),
                source,
            })?;
        Ok(CommandOutput {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    fn nvme_identify(&self, device: &str) -> Result<Vec<u8>, CommandError> {
        let command = identify_command(device);
        let file = std::fs::File::open(device).map_err(|source| CommandError::Spawn {
            command: command.clone(),
            source,
        })?;
        crate::nvme::identify_controller(&file)
            .map_err(|source| CommandError::Spawn { command, source })
    }
}

/// Answers commands from captured outputs: `commands.toml` lists
/// `[[command]] argv = [...], stdout = "file", status = 0` (plus `stderr = "file"` when the
/// command wrote to it), `missing = ["tool"]`, and `[[nvme_identify]] device = "/dev/nvme0n1"`
/// with `data = "file.bin"` (the 4096 bytes) or `error = "why it failed"`.
#[derive(Debug, Clone)]
pub struct CapturedCommands {
    dir: PathBuf,
    by_line: HashMap<String, Capture>,
    missing: Vec<String>,
    identify: HashMap<String, IdentifyCapture>,
}

#[derive(serde::Deserialize)]
struct CaptureList {
    #[serde(default)]
    command: Vec<Capture>,
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    nvme_identify: Vec<IdentifyCapture>,
}

/// One `[[nvme_identify]]` entry of `commands.toml` (read here, written by `capture`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub(crate) struct IdentifyCapture {
    pub device: String,
    /// The file holding the 4096 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Why the data could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn identify_command(device: &str) -> String {
    format!("NVMe identify {device}")
}

#[derive(Debug, Clone, serde::Deserialize)]
struct Capture {
    argv: Vec<String>,
    stdout: String,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    status: i32,
}

impl CapturedCommands {
    pub fn load(list: &Path) -> Result<Self, CommandError> {
        let text = std::fs::read_to_string(list).map_err(|source| CommandError::Capture {
            path: list.to_path_buf(),
            source,
        })?;
        let parsed: CaptureList = toml::from_str(&text).map_err(|e| CommandError::CaptureList {
            path: list.to_path_buf(),
            message: e.to_string(),
        })?;
        let by_line = parsed
            .command
            .into_iter()
            .map(|c| (c.argv.join(" "), c))
            .collect();
        let identify = parsed
            .nvme_identify
            .into_iter()
            .map(|c| (c.device.clone(), c))
            .collect();
        Ok(Self {
            dir: list.parent().unwrap_or(Path::new(".")).to_path_buf(),
            by_line,
            missing: parsed.missing,
            identify,
        })
    }
}

impl CommandRunner for CapturedCommands {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        if self.missing.iter().any(|m| m == program) {
            return Err(CommandError::Missing {
                program: program.to_string(),
            });
        }
        let line = command_line(program, args);
        let capture = self
            .by_line
            .get(&line)
            .ok_or_else(|| CommandError::NotCaptured {
                command: line.clone(),
            })?;
        let read = |file: &str| {
            let path = self.dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| CommandError::Capture { path, source })
        };
        let stderr = capture
            .stderr
            .as_deref()
            .map(read)
            .transpose()?
            .unwrap_or_default();
        Ok(CommandOutput {
            status: capture.status,
            stdout: read(&capture.stdout)?,
            stderr,
        })
    }

    fn nvme_identify(&self, device: &str) -> Result<Vec<u8>, CommandError> {
        let command = identify_command(device);
        let capture = self
            .identify
            .get(device)
            .ok_or_else(|| CommandError::NotCaptured {
                command: command.clone(),
            })?;
        match (&capture.data, &capture.error) {
            (Some(file), _) => {
                let path = self.dir.join(file);
                std::fs::read(&path).map_err(|source| CommandError::Capture { path, source })
            }
            (None, error) => Err(CommandError::Spawn {
                command,
                source: io::Error::other(error.clone().unwrap_or_else(|| "failed".into())),
            }),
        }
    }
}

pub fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// One fact a [`Host`] handed out, with the value it returned (`None`: absent or unreadable).
/// Paths are absolute system paths, as asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    Read {
        path: String,
        content: Option<Vec<u8>>,
    },
    Exists {
        path: String,
        exists: bool,
    },
    List {
        path: String,
        entries: Option<Vec<String>>,
    },
    Link {
        path: String,
        target: Option<PathBuf>,
    },
    Command {
        argv: Vec<String>,
        outcome: CommandOutcome,
    },
    /// NVMe Identify Controller: the data, or why it could not be read.
    NvmeIdentify {
        device: String,
        outcome: Result<Vec<u8>, String>,
    },
}

/// What a recorded command did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    Ran {
        status: i32,
        stdout: String,
        stderr: String,
    },
    Missing,
    /// Could not be run for another reason (the error's text).
    Failed(String),
}

/// Every fact a recording host handed out, in order.
#[derive(Debug, Default)]
pub struct Trail {
    accesses: Mutex<Vec<Access>>,
}

impl Trail {
    fn note(&self, access: Access) {
        self.accesses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(access);
    }

    pub fn accesses(&self) -> Vec<Access> {
        self.accesses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A filesystem root plus a command runner.
pub struct Host {
    root: PathBuf,
    commands: Box<dyn CommandRunner>,
    trail: Option<Trail>,
    /// System paths a fixture holds that could not be read when it was captured.
    unreadable: Vec<String>,
}

impl Host {
    /// The machine we run on.
    pub fn system() -> Self {
        Self::new("/", Box::new(SystemCommands))
    }

    pub fn new(root: impl Into<PathBuf>, commands: Box<dyn CommandRunner>) -> Self {
        Self {
            root: root.into(),
            commands,
            trail: None,
            unreadable: Vec::new(),
        }
    }

    /// The same host, keeping a [`Trail`] of what it hands out from now on (see [`Host::trail`]).
    pub fn recording(self) -> Self {
        Self {
            trail: Some(Trail::default()),
            ..self
        }
    }

    /// What a recording host handed out so far; `None` for a host that does not record.
    pub fn trail(&self) -> Option<&Trail> {
        self.trail.as_ref()
    }

    /// The filesystem root (`/`, or a fixture's `root/`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn note(&self, access: impl FnOnce() -> Access) {
        if let Some(trail) = &self.trail {
            trail.note(access());
        }
    }

    /// A captured machine: a directory holding `root/` and `commands.toml`. Git keeps no
    /// empty directories, yet sysfs is full of meaningful ones (`wireless/`, `holders/`), so
    /// `empty-dirs.txt` lists them and they are made here. `unreadable.txt` lists the files
    /// that existed but could not be read (the DMI serial without root): reading them fails.
    pub fn fixture(dir: &Path) -> Result<Self, CommandError> {
        let lines = |file: &str| -> Vec<String> {
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        };
        for rel in lines("empty-dirs.txt") {
            let _ = std::fs::create_dir_all(dir.join("root").join(rel));
        }
        let commands = CapturedCommands::load(&dir.join("commands.toml"))?;
        Ok(Self {
            unreadable: lines("unreadable.txt"),
            ..Self::new(dir.join("root"), Box::new(commands))
        })
    }

    pub fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Maps an absolute system path under this host's root. Reading through it bypasses
    /// the trail: use the methods below.
    pub fn path(&self, system_path: &str) -> PathBuf {
        self.root.join(system_path.trim_start_matches('/'))
    }

    pub fn read(&self, system_path: &str) -> io::Result<String> {
        let bytes = self.read_bytes(system_path)?;
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// A file's bytes (efivarfs variables, SCSI VPD pages).
    pub fn read_bytes(&self, system_path: &str) -> io::Result<Vec<u8>> {
        let result = if self.unreadable.iter().any(|p| p == system_path) {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "unreadable when captured",
            ))
        } else {
            std::fs::read(self.path(system_path))
        };
        self.note(|| Access::Read {
            path: system_path.to_string(),
            content: result.as_ref().ok().cloned(),
        });
        result
    }

    /// Reads a one-line sysfs attribute, trimmed; `None` when absent, unreadable or empty.
    pub fn attr(&self, system_path: &str) -> Option<String> {
        let value = self.read(system_path).ok()?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_string())
    }

    pub fn attr_u64(&self, system_path: &str) -> Option<u64> {
        self.attr(system_path)?.parse().ok()
    }

    pub fn exists(&self, system_path: &str) -> bool {
        let exists = self.path(system_path).exists();
        self.note(|| Access::Exists {
            path: system_path.to_string(),
            exists,
        });
        exists
    }

    /// Sorted entry names of a directory; empty when it does not exist.
    pub fn list(&self, system_path: &str) -> Vec<String> {
        let names: Option<Vec<String>> =
            std::fs::read_dir(self.path(system_path))
                .ok()
                .map(|entries| {
                    let mut names: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    names
                });
        self.note(|| Access::List {
            path: system_path.to_string(),
            entries: names.clone(),
        });
        names.unwrap_or_default()
    }

    /// Last component of a symlink's target (a driver's name from `device/driver`).
    pub fn link_name(&self, system_path: &str) -> Option<String> {
        let target = self.read_link(system_path)?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// Resolved target of a symlink, as text (used to spot USB-attached devices).
    pub fn link_target(&self, system_path: &str) -> Option<String> {
        self.read_link(system_path)
            .map(|p| p.to_string_lossy().into_owned())
    }

    fn read_link(&self, system_path: &str) -> Option<PathBuf> {
        let target = std::fs::read_link(self.path(system_path)).ok();
        self.note(|| Access::Link {
            path: system_path.to_string(),
            target: target.clone(),
        });
        target
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        let result = self.commands.run(program, args);
        self.note(|| Access::Command {
            argv: std::iter::once(program)
                .chain(args.iter().copied())
                .map(String::from)
                .collect(),
            outcome: match &result {
                Ok(out) => CommandOutcome::Ran {
                    status: out.status,
                    stdout: out.stdout.clone(),
                    stderr: out.stderr.clone(),
                },
                Err(CommandError::Missing { .. }) => CommandOutcome::Missing,
                Err(e) => CommandOutcome::Failed(e.to_string()),
            },
        });
        result
    }

    /// The Identify Controller data of the NVMe disk `device` (`/dev/nvme0n1`).
    pub fn nvme_identify(&self, device: &str) -> Result<Vec<u8>, CommandError> {
        let result = self.commands.nvme_identify(device);
        self.note(|| Access::NvmeIdentify {
            device: device.to_string(),
            outcome: result.as_ref().map(Vec::clone).map_err(|e| match e {
                CommandError::Spawn { source, .. } => source.to_string(),
                other => other.to_string(),
            }),
        });
        result
    }
}
