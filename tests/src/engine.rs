//! A real container engine for the tests, and test images built locally (no registry here).

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// The engine URL (`unix:///…`) for this test run: `PANIER_TEST_ENGINE`, else a dockerd
/// started (or found) by `tools/start-engine.sh` under /run/panier-test.
pub fn engine_url() -> String {
    if let Ok(url) = std::env::var("PANIER_TEST_ENGINE") {
        return url;
    }
    let out = Command::new("bash")
        .arg(crate::workspace_root().join("tools/start-engine.sh"))
        .args(["/run/panier-test", "/var/lib/panier-test/engine"])
        .output()
        .expect("tools/start-engine.sh runs");
    assert!(
        out.status.success(),
        "no container engine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs the docker CLI against `engine`.
pub fn docker(engine: &str, args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .arg("-H")
        .arg(engine)
        .args(args)
        .output()
        .context("running docker")?;
    if !out.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Imports an image `tag` holding Debian's static busybox (with `sh`, `httpd`, `nc`… as links)
/// plus `extra` files (path inside the image, content), unless the engine already has it.
/// `cmd` is the image's default command (JSON array).
pub fn busybox_image(engine: &str, tag: &str, extra: &[(&str, &str)], cmd: &str) -> Result<()> {
    if docker(engine, &["image", "inspect", tag]).is_ok() {
        return Ok(());
    }
    let root = tempfile::tempdir()?;
    let r = root.path();
    for dir in ["bin", "tmp", "var/www", "data", "etc"] {
        std::fs::create_dir_all(r.join(dir))?;
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox"))
        .context("copying /bin/busybox (Debian package busybox-static)")?;
    let applets = Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&applets.stdout)
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(applet))?;
    }
    std::fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
    )?;
    std::fs::write(r.join("etc/group"), "root:x:0:\nwww:x:33:\n")?;
    for (path, content) in extra {
        let p = r.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap())?;
        std::fs::write(&p, content)?;
        if path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    let tar = root.path().with_extension("tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(r)
        .arg("-cf")
        .arg(&tar)
        .arg("."))?;
    let change = format!("CMD {cmd}");
    docker(
        engine,
        &["import", "--change", &change, tar.to_str().unwrap(), tag],
    )?;
    let _ = std::fs::remove_file(&tar);
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// True if `path` exists and is a unix socket.
pub fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}
