//! Where hardware facts come from: a filesystem root and a command runner.
//!
//! Owns [`Host`], the single handle every probe and self-test reads through. On a real box
//! the root is `/` and commands run for real ([`SystemCommands`]); in tests the root is a
//! fixture tree (`hw/testdata/machines/<name>/root`) and commands answer from captured
//! outputs listed in `commands.toml` ([`CapturedCommands`]).
//!
//! Invariants: paths handed to [`Host::read`] are absolute system paths (`/sys/...`); they
//! are re-rooted, never read from the real system when a fixture root is set. A command
//! that is not installed is reported as [`CommandError::Missing`] so callers can degrade to
//! a partial result with a note instead of failing.
//!
//! Limits: captured commands are matched on their exact argument list; there is no
//! simulation of timing or of state changes between calls (self-test polling is tested
//! with a scripted runner in its own tests).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs external tools (smartctl, dmidecode, nvme, hdparm).
pub trait CommandRunner: Send + Sync {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError>;
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
        let exe = Self::locate(program)
            .ok_or_else(|| CommandError::Missing { program: program.to_string() })?;
        let output = Command::new(&exe)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .map_err(|source| CommandError::Spawn { command: command_line(program, args), source })?;
        Ok(CommandOutput {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Answers commands from captured outputs: `commands.toml` lists
/// `[[command]] argv = [...], stdout = "file", status = 0` and `missing = ["tool"]`.
#[derive(Debug, Clone)]
pub struct CapturedCommands {
    dir: PathBuf,
    by_line: HashMap<String, (String, i32)>,
    missing: Vec<String>,
}

#[derive(serde::Deserialize)]
struct CaptureList {
    #[serde(default)]
    command: Vec<Capture>,
    #[serde(default)]
    missing: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Capture {
    argv: Vec<String>,
    stdout: String,
    #[serde(default)]
    status: i32,
}

impl CapturedCommands {
    pub fn load(list: &Path) -> Result<Self, CommandError> {
        let text = std::fs::read_to_string(list)
            .map_err(|source| CommandError::Capture { path: list.to_path_buf(), source })?;
        let parsed: CaptureList = toml::from_str(&text).map_err(|e| CommandError::CaptureList {
            path: list.to_path_buf(),
            message: e.to_string(),
        })?;
        let by_line = parsed
            .command
            .into_iter()
            .map(|c| (c.argv.join(" "), (c.stdout, c.status)))
            .collect();
        Ok(Self {
            dir: list.parent().unwrap_or(Path::new(".")).to_path_buf(),
            by_line,
            missing: parsed.missing,
        })
    }
}

impl CommandRunner for CapturedCommands {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        if self.missing.iter().any(|m| m == program) {
            return Err(CommandError::Missing { program: program.to_string() });
        }
        let line = command_line(program, args);
        let (file, status) =
            self.by_line.get(&line).ok_or_else(|| CommandError::NotCaptured { command: line.clone() })?;
        let path = self.dir.join(file);
        let stdout = std::fs::read_to_string(&path)
            .map_err(|source| CommandError::Capture { path: path.clone(), source })?;
        Ok(CommandOutput { status: *status, stdout, stderr: String::new() })
    }
}

pub fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ")
}

/// A filesystem root plus a command runner.
pub struct Host {
    root: PathBuf,
    commands: Box<dyn CommandRunner>,
}

impl Host {
    /// The machine we run on.
    pub fn system() -> Self {
        Self { root: PathBuf::from("/"), commands: Box::new(SystemCommands) }
    }

    pub fn new(root: impl Into<PathBuf>, commands: Box<dyn CommandRunner>) -> Self {
        Self { root: root.into(), commands }
    }

    /// A fixture machine directory holding `root/` and `commands.toml`.
    /// A captured machine. Git keeps no empty directories, yet sysfs is full of meaningful
    /// ones (`wireless/`, `holders/`), so `empty-dirs.txt` lists them and they are made here.
    pub fn fixture(dir: &Path) -> Result<Self, CommandError> {
        if let Ok(list) = std::fs::read_to_string(dir.join("empty-dirs.txt")) {
            for rel in list.lines().filter(|l| !l.trim().is_empty()) {
                let _ = std::fs::create_dir_all(dir.join("root").join(rel.trim()));
            }
        }
        let commands = CapturedCommands::load(&dir.join("commands.toml"))?;
        Ok(Self::new(dir.join("root"), Box::new(commands)))
    }

    pub fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Maps an absolute system path under this host's root.
    pub fn path(&self, system_path: &str) -> PathBuf {
        self.root.join(system_path.trim_start_matches('/'))
    }

    pub fn read(&self, system_path: &str) -> io::Result<String> {
        std::fs::read_to_string(self.path(system_path))
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
        self.path(system_path).exists()
    }

    /// Sorted entry names of a directory; empty when it does not exist.
    pub fn list(&self, system_path: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(system_path))
            .map(|entries| {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Last component of a symlink's target (a driver's name from `device/driver`).
    pub fn link_name(&self, system_path: &str) -> Option<String> {
        let target = std::fs::read_link(self.path(system_path)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// Resolved target of a symlink, as text (used to spot USB-attached devices).
    pub fn link_target(&self, system_path: &str) -> Option<String> {
        std::fs::read_link(self.path(system_path)).ok().map(|p| p.to_string_lossy().into_owned())
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        self.commands.run(program, args)
    }
}
