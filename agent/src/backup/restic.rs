//! Driving the `restic` program (Debian's 0.14 on the build machine, packaged into the image):
//! one child process per operation, `--json` output parsed here, the repository password
//! passed through the child's environment only (never on a command line, never logged).
//!
//! The child's peak resident memory is read from the kernel when it is reaped (`wait4`'s
//! rusage), so every run records what the backup process cost. A crash or a memory spike of
//! restic cannot take the agent down: it is a separate process.
//!
//! A child that stops making progress is stopped ([`Stall`]): restic 0.14 sometimes hangs for
//! good when its target fills up (about one run in six here, writing nothing at all), and a
//! hung backup would keep a cold service stopped. Progress is the child's own reads and
//! writes (`/proc/<pid>/io`), which a slow upload or a long check keeps moving.

use serde::Deserialize;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a child may go without reading or writing [`STALL_BYTES`] before it is stopped.
const STALL: Duration = Duration::from_secs(90);
/// More than restic's once-a-second status lines add up to in [`STALL`].
const STALL_BYTES: u64 = 256 * 1024;

/// The restic program (overridable for trainees' experiments and the benchmark).
pub fn program() -> PathBuf {
    std::env::var_os("PANIER_RESTIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| "restic".into())
}

/// How to reach one repository.
#[derive(Clone)]
pub struct Repo {
    pub url: String,
    /// The repository for messages (a REST password hidden): what errors and logs name.
    pub shown: String,
    pub password: String,
    /// Extra `-o key=value` options (the SFTP command).
    pub options: Vec<String>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is deliberately left out, so a `{:?}` in a log cannot leak it.
        f.debug_struct("Repo")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

/// What went wrong, sorted into the cases the UI explains differently.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResticError {
    #[error("the repository password is wrong")]
    WrongPassword,
    #[error("there is no backup repository at {0}")]
    NoRepository(String),
    #[error("the backup target is full")]
    TargetFull,
    #[error("the backup target cannot be reached: {0}")]
    Unreachable(String),
    #[error("the restic program could not be started: {0}")]
    NotInstalled(String),
    #[error("restic {op} failed: {detail}")]
    Failed { op: String, detail: String },
}

impl ResticError {
    pub fn key(&self) -> &'static str {
        match self {
            ResticError::WrongPassword => "backup_wrong_password",
            ResticError::NoRepository(_) => "backup_no_repository",
            ResticError::TargetFull => "backup_target_full",
            ResticError::Unreachable(_) => "backup_target_unreachable",
            ResticError::NotInstalled(_) => "backup_engine_missing",
            ResticError::Failed { .. } => "backup_failed",
        }
    }
}

/// Sorts restic's error output. Pure, so it is unit-tested on restic's actual messages.
pub fn classify(op: &str, url: &str, stderr: &str) -> ResticError {
    let s = stderr.to_lowercase();
    if s.contains("wrong password") || s.contains("no key found") {
        ResticError::WrongPassword
    } else if s.contains("no space left on device") || s.contains("disk quota exceeded") {
        ResticError::TargetFull
    } else if s.contains("unable to open config file")
        || s.contains("is there a repository at the following location")
    {
        ResticError::NoRepository(url.to_owned())
    } else if s.contains("connection refused")
        || s.contains("connection closed")
        || s.contains("no route to host")
        || s.contains("unable to start the sftp session")
    {
        ResticError::Unreachable(last_line(stderr))
    } else {
        ResticError::Failed {
            op: op.to_owned(),
            detail: last_line(stderr),
        }
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .chars()
        .take(400)
        .collect()
}

/// A finished child.
pub struct Output {
    pub stdout: Vec<u8>,
    pub peak_rss_kib: i64,
}

/// Progress of a running backup, shared with the UI.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub pid: Option<u32>,
    pub percent: f64,
    pub files_done: u64,
    pub bytes_done: u64,
    pub total_bytes: u64,
    /// What is being saved (`state`, or a service's id).
    pub part: String,
}

/// restic's last line of `backup --json`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub files_new: u64,
    #[serde(default)]
    pub files_changed: u64,
    #[serde(default)]
    pub files_unmodified: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
    #[serde(default)]
    pub snapshot_id: String,
}

/// Runs `restic <args>` against `repo` and waits (blocking: call from `spawn_blocking`).
/// Each stdout line goes to `on_line` as it arrives.
pub fn run(
    repo: &Repo,
    args: &[&str],
    on_line: impl FnMut(&str, u32),
) -> Result<Output, ResticError> {
    run_program(&program(), repo, args, on_line, STALL)
}

fn run_program(
    program: &std::path::Path,
    repo: &Repo,
    args: &[&str],
    mut on_line: impl FnMut(&str, u32),
    stall_after: Duration,
) -> Result<Output, ResticError> {
    let op = args.first().copied().unwrap_or("").to_owned();
    let mut cmd = Command::new(program);
    cmd.arg("--repo")
        .arg(&repo.url)
        .arg("--no-cache")
        .arg("--json");
    for o in &repo.options {
        cmd.arg("-o").arg(o);
    }
    cmd.args(args)
        .env("RESTIC_PASSWORD", &repo.password)
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_REPOSITORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a stalled child is stopped with its own children (ssh).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| ResticError::NotInstalled(e.to_string()))?;
    let pid = child.id();
    let stall = Stall::watch(pid, stall_after);
    let mut stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped"))
        .split(b'\n')
        .map_while(Result::ok)
    {
        if let Ok(text) = std::str::from_utf8(&line) {
            on_line(text, pid);
        }
        stdout.extend_from_slice(&line);
        stdout.push(b'\n');
    }
    let stalled = stall.done();
    let (code, peak) = wait4(pid);
    // The child is reaped by wait4; forgetting it keeps std from waiting on a reused pid.
    std::mem::forget(child);
    let stderr = err_thread.join().unwrap_or_default();
    // restic 0.14: 3 means "some files could not be read" — the snapshot exists; treat the
    // unreadable files as a failure all the same, a backup that silently skips is not trusted.
    if stalled {
        return Err(stalled_error(&op, &repo.url, &repo.shown, stall_after));
    }
    if code != Some(0) {
        let detail = if code.is_none() {
            format!("{stderr}\nthe restic process was killed")
        } else {
            stderr
        };
        return Err(classify(&op, &repo.shown, &detail));
    }
    Ok(Output {
        stdout,
        peak_rss_kib: peak,
    })
}

/// Stops a child that has stopped reading and writing (see the module's documentation).
struct Stall {
    finished: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
}

impl Stall {
    fn watch(pid: u32, limit: Duration) -> Stall {
        let (finished, stalled) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (f, st) = (finished.clone(), stalled.clone());
        std::thread::spawn(move || {
            let (mut mark, mut since) = (io_bytes(pid).unwrap_or(0), Instant::now());
            while !f.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(1));
                let Some(now) = io_bytes(pid) else { return };
                if now.saturating_sub(mark) >= STALL_BYTES {
                    (mark, since) = (now, Instant::now());
                } else if since.elapsed() > limit && !f.load(Ordering::SeqCst) {
                    log::warn!(
                        "restic (pid {pid}) made no progress for {} s: stopping it",
                        limit.as_secs()
                    );
                    st.store(true, Ordering::SeqCst);
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    return;
                }
            }
        });
        Stall { finished, stalled }
    }

    /// Ends the watch (before the child is reaped, so that its pid cannot be reused under
    /// the watch); whether the child was stopped for stalling.
    fn done(self) -> bool {
        self.finished.store(true, Ordering::SeqCst);
        self.stalled.load(Ordering::SeqCst)
    }
}

/// Bytes a process has read and written so far (`rchar` + `wchar`).
fn io_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(field("rchar:")? + field("wchar:")?)
}

/// A stalled child: a full local target says so; anything else is a plain failure.
fn stalled_error(op: &str, url: &str, shown: &str, limit: Duration) -> ResticError {
    let free = url
        .starts_with('/')
        .then(|| nix::sys::statvfs::statvfs(url).ok())
        .flatten()
        .map(|st| st.blocks_available() * st.fragment_size());
    // restic writes packs of several MiB: with less room than a few of them, the target is full.
    match free {
        Some(bytes) if bytes < 64 << 20 => ResticError::TargetFull,
        _ => ResticError::Failed {
            op: op.to_owned(),
            detail: format!(
                "restic made no progress for {} s on {shown} and was stopped",
                limit.as_secs()
            ),
        },
    }
}

/// Reaps `pid`, returning its exit code (None if killed by a signal) and peak RSS in KiB.
fn wait4(pid: u32) -> (Option<i32>, i64) {
    let mut status: libc::c_int = 0;
    // SAFETY: plain syscall on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break;
    }
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    (code, usage.ru_maxrss)
}

/// `restic backup` of `paths` with `tags`, reporting progress.
pub fn backup(
    repo: &Repo,
    paths: &[PathBuf],
    tags: &[String],
    host: &str,
    progress: &Arc<Mutex<Option<Progress>>>,
) -> Result<(Summary, i64), ResticError> {
    let mut args: Vec<String> = vec!["backup".into(), "--host".into(), host.into()];
    for t in tags {
        args.push("--tag".into());
        args.push(t.clone());
    }
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut summary = Summary::default();
    let out = run(repo, &args, |line, pid| {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            return;
        };
        match v["message_type"].as_str() {
            Some("status") => {
                let mut g = progress.lock().unwrap_or_else(|e| e.into_inner());
                let p = g.get_or_insert_default();
                p.pid = Some(pid);
                p.percent = v["percent_done"].as_f64().unwrap_or(0.0) * 100.0;
                p.files_done = v["files_done"].as_u64().unwrap_or(0);
                p.bytes_done = v["bytes_done"].as_u64().unwrap_or(0);
                p.total_bytes = v["total_bytes"].as_u64().unwrap_or(0);
            }
            Some("summary") => summary = serde_json::from_value(v).unwrap_or_default(),
            _ => {
                progress
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_default()
                    .pid = Some(pid);
            }
        }
    })?;
    Ok((summary, out.peak_rss_kib))
}

/// A snapshot as `restic snapshots --json` lists it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    pub time: String,
    #[schema(value_type = Vec<String>)]
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub hostname: String,
}

impl Snapshot {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

pub fn snapshots(repo: &Repo) -> Result<Vec<Snapshot>, ResticError> {
    let out = run(repo, &["snapshots"], |_, _| {})?;
    let text = String::from_utf8_lossy(&out.stdout);
    // restic prints one JSON document; tolerate a trailing newline.
    let list: Option<Vec<Snapshot>> = serde_json::from_str(text.trim()).ok();
    list.ok_or_else(|| ResticError::Failed {
        op: "snapshots".into(),
        detail: "unreadable answer".into(),
    })
}

/// `restic init`, or opening an existing repository with the given password (adoption).
pub fn init_or_open(repo: &Repo) -> Result<bool, ResticError> {
    match run(repo, &["cat", "config"], |_, _| {}) {
        Ok(_) => Ok(false),
        Err(ResticError::NoRepository(_)) => run(repo, &["init"], |_, _| {}).map(|_| true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn program(dir: &std::path::Path, script: &str) -> PathBuf {
        let path = dir.join("restic");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_child_that_stops_reading_and_writing_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo {
            url: "sftp:box@example:/x".into(),
            shown: "sftp:box@example:/x".into(),
            password: "p".into(),
            options: vec![],
        };
        let start = Instant::now();
        let err = run_program(
            &program(dir.path(), "sleep 60"),
            &repo,
            &["backup"],
            |_, _| {},
            Duration::from_secs(2),
        )
        .err()
        .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stopped after {:?}",
            start.elapsed()
        );
        assert!(
            matches!(&err, ResticError::Failed { op, detail } if op == "backup" && detail.contains("no progress for 2 s")),
            "{err}"
        );
    }

    #[test]
    fn a_child_that_keeps_working_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo {
            url: dir.path().display().to_string(),
            shown: dir.path().display().to_string(),
            password: "p".into(),
            options: vec![],
        };
        // Reads 1 MiB a second for 4 s, twice the stall limit.
        let out = run_program(
            &program(
                dir.path(),
                "for i in 1 2 3 4; do head -c 1048576 /dev/zero | cat > /dev/null; sleep 1; done",
            ),
            &repo,
            &["check"],
            |_, _| {},
            Duration::from_secs(2),
        );
        assert!(out.is_ok(), "{:?}", out.err());
    }

    #[test]
    fn a_stalled_child_on_a_full_local_target_means_the_target_is_full() {
        // A 16 MiB file system stands for a full USB disk.
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::create_dir(&small).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(&small)
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            let err = stalled_error(
                "backup",
                &small.display().to_string(),
                "small",
                Duration::from_secs(90),
            );
            let _ = std::process::Command::new("umount").arg(&small).status();
            assert!(matches!(err, ResticError::TargetFull), "{err}");
        }
        let err = stalled_error("backup", "/", "/", Duration::from_secs(90));
        assert!(
            matches!(err, ResticError::Failed { .. }) || std::fs::metadata("/").is_err(),
            "{err}"
        );
    }
}
