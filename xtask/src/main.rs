//! Project tasks, run as `cargo xtask <task>` (see README.md).
//!
//! - `run`: install what the box needs, start a container engine if none is running, build the
//!   agent and run it with a local data directory; prints the admin URL and the setup code.
//! - `test`: install what the tests need, then run every suite in order (lint, the cargo tests,
//!   the image tree checks, the QEMU system tests); `cargo xtask test NAME…` runs the named ones.
//!   Exits non-zero if any suite fails.
//! - `bench`: build in release mode and run the benchmarks, which print figures.
//!
//! It has no dependencies so that it builds in seconds on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&root, &args[1..]),
        Some("test") => test(&root, &args[1..]),
        Some("bench") => bench(&root, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask run|test|bench");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace this run is for. `cargo run` sets CARGO_MANIFEST_DIR at run time; the
/// compile-time value is only a fallback: clones sharing one target directory share one
/// `xtask` binary, and the path baked into it is the clone that built it last.
fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest_dir
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, failing with its name when it fails.
fn sh(root: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn install_deps(root: &Path) -> Result<(), String> {
    sh(root, "bash", &["tools/install-deps.sh"], &[])
}

fn run(root: &Path, extra: &[String]) -> Result<(), String> {
    install_deps(root)?;
    let mut args = vec!["tools/run-box.sh"];
    args.extend(extra.iter().map(String::as_str));
    sh(root, "bash", &args, &[])
}

/// One test suite: a name, the command that runs it, and the minutes after which it is
/// stopped and counted failed (so that a hang says which suite hung, well inside CI's 90).
struct Suite {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    minutes: u32,
}

const SUITES: &[Suite] = &[
    // cargo fmt --check, clippy -D warnings, shellcheck: fast, so a style slip fails first.
    Suite {
        name: "lint",
        program: "bash",
        args: &["tools/lint.sh"],
        minutes: 15,
    },
    // Unit, golden-file, router and system tests (real binary, engine, nftables, browser).
    Suite {
        name: "cargo tests",
        program: "bash",
        args: &["tools/cargo-tests.sh"],
        minutes: 40,
    },
    // shellcheck, grub-script-check, nft -c, systemd-analyze verify, defconfig duplicates,
    // and the board's genimage layout with stand-in contents.
    Suite {
        name: "image tree checks",
        program: "bash",
        args: &["image/scripts/check-tree.sh"],
        minutes: 5,
    },
    // The test image booted in QEMU (SeaBIOS and OVMF): setup, a service through the proxy,
    // reboot, RAUC update, fallback, NVMe wipe (tests/qemu/, about 12 minutes on 2 cores).
    Suite {
        name: "qemu",
        program: "bash",
        args: &["tests/qemu/run-tests.sh"],
        minutes: 35,
    },
    // Install mode in QEMU: boot from a USB stick, install onto an NVMe disk through the API,
    // boot the installed disk alone (3 to 6 minutes; the qemu suite's test image).
    Suite {
        name: "qemu install",
        program: "bash",
        args: &["tests/qemu/install-tests.sh"],
        minutes: 20,
    },
];

fn test(root: &Path, only: &[String]) -> Result<(), String> {
    install_deps(root)?;
    let mut failed = Vec::new();
    for suite in SUITES {
        if !only.is_empty() && !only.iter().any(|o| o == suite.name) {
            continue;
        }
        eprintln!("==> {}", suite.name);
        // `timeout` signals the suite's whole process group, then kills it 30 s later.
        let limit = format!("{}m", suite.minutes);
        let mut args = vec!["--kill-after=30", limit.as_str(), suite.program];
        args.extend_from_slice(suite.args);
        if let Err(e) = sh(root, "timeout", &args, &[]) {
            eprintln!("==> {} FAILED: {e}", suite.name);
            failed.push(suite.name);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed suites: {}", failed.join(", ")))
    }
}

fn bench(root: &Path, extra: &[String]) -> Result<(), String> {
    install_deps(root)?;
    let mut args = vec!["tools/bench.sh"];
    args.extend(extra.iter().map(String::as_str));
    sh(root, "bash", &args, &[])
}
