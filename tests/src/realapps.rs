//! Real applications for the system tests: test images made of Debian's own packages
//! (radicale, prosody, dokuwiki) by `tests/images/build.sh` (mmdebstrap, cached under
//! /var/cache/panier/test-images keyed on their recipe), pushed with skopeo to a real local
//! [`Registry`], and a catalog of their test manifests (`tests/realapps/`) whose images name
//! the pushed digests, so that an agent installs them through its normal pull path. The
//! clients that prove them are Debian's Python libraries, in small scripts under
//! `tests/clients/`.
//!
//! Ids are suffixed (as `services::test_catalog` does) so that tests sharing one engine never
//! use the same names. The manifests name their image as `127.0.0.1:5000/panier-test/NAME:
//! bookworm`; the catalog made here replaces it, everywhere in the manifest (containers and
//! provenance), with the registry's `host/repository:tag@digest`.

use crate::registry::{Pushed, Registry};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Debian's Python.
const PYTHON: &str = "/usr/bin/python3";

/// The registry every test manifest names, replaced at run time.
const PLACEHOLDER_REGISTRY: &str = "127.0.0.1:5000";

/// A built test image: its OCI layout and the Debian packages it holds.
pub struct TestImage {
    pub name: String,
    pub layout: PathBuf,
}

impl TestImage {
    /// Builds the image `name` from its recipe (`tests/images/NAME/`), or finds it cached.
    pub fn build(name: &str) -> Result<TestImage> {
        let out = Command::new("bash")
            .arg(crate::workspace_root().join("tests/images/build.sh"))
            .arg(name)
            .stderr(Stdio::inherit())
            .output()
            .context("running tests/images/build.sh")?;
        if !out.status.success() {
            bail!("building the test image {name} failed (see above)");
        }
        let layout = PathBuf::from(String::from_utf8(out.stdout)?.trim());
        Ok(TestImage {
            name: name.to_owned(),
            layout,
        })
    }

    /// Package → version, as dpkg recorded them in the image.
    pub fn packages(&self) -> Result<BTreeMap<String, String>> {
        let text = std::fs::read_to_string(self.layout.join("packages.txt"))
            .with_context(|| format!("reading {}/packages.txt", self.layout.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(p, v)| (p.to_owned(), v.to_owned()))
            .collect())
    }

    /// Pushes it to `registry` as `panier-test/NAME:bookworm`.
    pub fn push(&self, registry: &Registry) -> Result<Pushed> {
        registry.push_from_oci(
            &self.layout,
            &self.name,
            &format!("panier-test/{}", self.name),
            "bookworm",
        )
    }
}

/// A catalog folder holding the test manifests of some real applications.
pub struct RealCatalog {
    pub dir: tempfile::TempDir,
    pub suffix: String,
    /// Base name → what was pushed for it.
    pub pushed: BTreeMap<String, Pushed>,
    /// Base name → the image (its packages, for the provenance checks).
    pub images: BTreeMap<String, TestImage>,
}

impl RealCatalog {
    /// Builds (or finds) the images of `apps`, pushes them to `registry` and writes their
    /// manifests into a new catalog folder, pinned to the pushed digests.
    pub fn make(registry: &Registry, apps: &[&str]) -> Result<RealCatalog> {
        let dir = tempfile::Builder::new()
            .prefix("panier-realapps-")
            .tempdir()?;
        let suffix = crate::services::suffix();
        let mut pushed = BTreeMap::new();
        let mut images = BTreeMap::new();
        for app in apps {
            let image = TestImage::build(app)?;
            let p = image.push(registry)?;
            write_service(dir.path(), app, &suffix, &p)?;
            pushed.insert((*app).to_owned(), p);
            images.insert((*app).to_owned(), image);
        }
        Ok(RealCatalog {
            dir,
            suffix,
            pushed,
            images,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The service id of the base name `app` in this catalog.
    pub fn id(&self, app: &str) -> String {
        format!("{app}{}", self.suffix)
    }

    pub fn ids(&self) -> Vec<String> {
        self.pushed.keys().map(|a| self.id(a)).collect()
    }

    /// The manifest as written for this run.
    pub fn manifest(&self, app: &str) -> String {
        std::fs::read_to_string(self.path().join(self.id(app)).join("manifest.toml")).unwrap()
    }
}

/// Copies `tests/realapps/APP` into `dir/APP<suffix>`, with that id and the pushed image.
fn write_service(dir: &Path, app: &str, suffix: &str, pushed: &Pushed) -> Result<()> {
    let src = crate::workspace_root().join("tests/realapps").join(app);
    let id = format!("{app}{suffix}");
    let dst = dir.join(&id);
    std::fs::create_dir_all(&dst)?;
    let named = format!("{PLACEHOLDER_REGISTRY}/panier-test/{app}:bookworm");
    for f in std::fs::read_dir(&src)
        .with_context(|| format!("reading {}", src.display()))?
        .flatten()
    {
        let mut text = std::fs::read_to_string(f.path())?;
        if f.file_name() == "manifest.toml" {
            if !text.contains(&named) {
                bail!("{} does not name its image {named}", src.display());
            }
            text = text
                .replace(&format!("id = \"{app}\""), &format!("id = \"{id}\""))
                .replace(&named, &pushed.pinned());
        }
        std::fs::write(dst.join(f.file_name()), text)?;
    }
    Ok(())
}

/// Runs the Python client `tests/clients/SCRIPT` with `args` under Debian's Python (where
/// python3-caldav and python3-slixmpp are; not another python3 earlier on PATH), inside the
/// network namespace `netns` when given.
pub fn client(netns: Option<&str>, script: &str, args: &[&str]) -> Output {
    let path = crate::workspace_root().join("tests/clients").join(script);
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/var/run/netns/{ns}")).arg(PYTHON);
            c
        }
        None => Command::new(PYTHON),
    };
    cmd.arg(&path)
        .args(args)
        // No __pycache__ in the checkout.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()))
}

/// The client's output, or a panic with its error output.
pub fn client_ok(netns: Option<&str>, script: &str, args: &[&str]) -> String {
    let out = client(netns, script, args);
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `panier ARGS` against `agent`; its standard output, or a panic with the agent's log.
pub fn cli_ok(agent: &crate::Agent, args: &[&str]) -> String {
    let out = agent.cli(args);
    assert!(
        out.status.success(),
        "panier {args:?} failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        agent.log_text()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keeps the nightly run out of the test: it runs at the first minute past its hour on a day
/// it has not run yet, so on a new box with a target it would start within a minute, and its
/// `forget --prune` keeps one snapshot a day per service (the newest: the safety snapshot of
/// a removal, or the one of the service installed again), dropping the snapshot the test
/// restores. Its hour is set to 23; at 23 h it is let run first.
fn no_nightly_run(agent: &crate::Agent) {
    let out = Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H", "content-type: application/json"])
        .args(["-d", r#"{"hour":23}"#, "--unix-socket"])
        .arg(&agent.socket)
        .arg("http://box/api/v1/backup/schedule")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hour = Command::new("date").arg("+%H").output().unwrap();
    if String::from_utf8_lossy(&hour.stdout).trim() == "23" {
        std::thread::sleep(std::time::Duration::from_secs(65));
        crate::wait_until(
            std::time::Duration::from_secs(300),
            "the nightly run to end",
            || agent.cli_json(&["backup", "status"])["running"] == false,
        )
        .unwrap();
    }
}

/// The service's data as the agent backs it up: a folder target `dossier` under `dir`
/// (its kit confirmed), a backup run that must succeed; returns the service's snapshot id.
pub fn back_up(agent: &crate::Agent, app: &str, dir: &Path) -> String {
    let repo = dir.join("repo");
    agent.cli_json(&[
        "backup",
        "target",
        "add",
        "dossier",
        "--folder",
        repo.to_str().unwrap(),
    ]);
    agent.cli_json(&["backup", "kit", "dossier", "--confirm"]);
    no_nightly_run(agent);
    let runs = agent.cli_json(&["backup", "run"]);
    assert_eq!(runs[0]["ok"], true, "{runs}");
    let list = agent.cli_json(&["backup", "list", "dossier"]);
    let tag = format!("app={app}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["tags"].as_array().unwrap().iter().any(|t| *t == *tag))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no snapshot tagged {tag}: {list}"))
        .to_owned()
}

/// Removes the service with its data (the confirmation given) and checks nothing is left.
pub fn remove_with_data(agent: &crate::Agent, engine: &str, app: &str) {
    cli_ok(
        agent,
        &[
            "app",
            "remove",
            app,
            "--delete-data",
            "--confirm",
            app,
            "--follow",
        ],
    );
    let (containers, networks) = crate::services::objects_of(engine, app);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "{containers:?} {networks:?}"
    );
    assert!(
        !agent
            .data_dir
            .join("apps")
            .join(app)
            .join("volumes")
            .exists(),
        "its data is gone"
    );
}

/// Restores the service (installed again, empty) from `snapshot` of the target `dossier`,
/// and waits for the restore job to be done (the service started again).
pub fn restore(agent: &crate::Agent, app: &str, snapshot: &str) {
    // Another backup task of the box may hold the repository for a moment (the agent says
    // so with `backup_busy`): wait for it, as an admin would.
    let args = [
        "backup", "restore", "--target", "dossier", "--app", app, snapshot,
    ];
    let mut last = None;
    crate::wait_until(
        std::time::Duration::from_secs(60),
        "the restore to be accepted",
        || {
            let out = agent.cli(&args);
            let busy = String::from_utf8_lossy(&out.stderr).contains("backup_busy");
            let accepted = out.status.success();
            last = Some(out);
            accepted || !busy
        },
    )
    .unwrap();
    let out = last.unwrap();
    assert!(
        out.status.success(),
        "panier {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    crate::wait_until(
        std::time::Duration::from_secs(120),
        "the restore job to succeed",
        || {
            let status = agent.cli_json(&["app", "status", app]);
            status["job"]["kind"] == "restore"
                && status["job"]["state"] == "succeeded"
                && status["state"] == "running"
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {}", agent.cli_json(&["app", "status", app])));
}

/// The engine's image of the service's container `container` carries the pushed digest: the
/// agent pulled it from the registry by its pinned reference.
pub fn pulled_by_digest(engine: &str, app: &str, container: &str, pushed: &Pushed) -> bool {
    let image = crate::engine::docker(
        engine,
        &[
            "inspect",
            "-f",
            "{{.Image}}",
            &format!("panier-{app}-{container}"),
        ],
    )
    .unwrap();
    let digests = crate::engine::docker(
        engine,
        &["image", "inspect", "-f", "{{json .RepoDigests}}", &image],
    )
    .unwrap();
    let repo = pushed.tagged.rsplit_once(':').unwrap().0;
    digests.contains(&format!("{repo}@{}", pushed.digest))
}
