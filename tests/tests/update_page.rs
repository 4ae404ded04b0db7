//! The Update page in a real browser (Debian's Chromium), in French, against a local HTTPS
//! mirror of the update channel serving an index signed with a release key made by
//! Debian's minisign: the running and offered versions with the French notes, "Install"
//! (restart at a night hour) downloading and checking the bundle, the installation's
//! outcome said on the page (this machine has no system slot, so RAUC is refused there), and
//! a tampered index refused with the reason. Screenshots go to tests/artifacts/.

use panier_system_tests::browser::{Driver, artifacts_dir};
use panier_system_tests::https::{FileServer, TestCerts};
use panier_system_tests::{Agent, AgentOptions};
use sha2::Digest;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use thirtyfour::prelude::*;

const NOTES_FR: &str = "Correctifs de sécurité du noyau et de Docker.";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rfc3339(unix: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A channel in `dir`: a bundle, `index.json` offering it, signed with `key`.
fn channel(dir: &Path, key: &Path, bundle: &[u8], serial: u64) {
    std::fs::write(dir.join("panier-2027.1.0.raucb"), bundle).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let index = serde_json::json!({
        "format": 1,
        "channel": "stable",
        "compatible": "panier-x86_64",
        "serial": serial,
        "published": rfc3339(now - 60),
        "expires": rfc3339(now + 7 * 86400),
        "releases": [{
            "version": "2027.1.0",
            "bundle": "panier-2027.1.0.raucb",
            "size": bundle.len(),
            "sha256": hex::encode(sha2::Sha256::digest(bundle)),
            "notes": {"fr": NOTES_FR, "en": "Kernel and Docker security fixes."}
        }]
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
    run(Command::new("minisign")
        .args(["-S", "-s"])
        .arg(key)
        .arg("-m")
        .arg(dir.join("index.json")));
}

async fn wait(driver: &WebDriver, by: By) -> WebDriverResult<WebElement> {
    driver
        .query(by)
        .wait(Duration::from_secs(30), Duration::from_millis(100))
        .first()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_update_page_offers_installs_and_explains() -> WebDriverResult<()> {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let www = t.join("www");
    std::fs::create_dir_all(&www).unwrap();
    run(Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(t.join("release.pub"))
        .arg("-s")
        .arg(t.join("release.key")));
    let bundle: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    channel(&www, &t.join("release.key"), &bundle, 7);
    let certs = TestCerts::make(t).unwrap();
    let mirror = FileServer::start(&certs, &www).unwrap();
    std::fs::write(t.join("os-version"), "2026.12.0\n").unwrap();
    let config = format!(
        "[update]\nchannel = \"{}\"\nca = \"{}\"\nkey = \"{}\"\nversion_file = \"{}\"\n",
        mirror.url("/index.json"),
        certs.ca.display(),
        t.join("release.pub").display(),
        t.join("os-version").display()
    );
    let agent = Agent::start_with(AgentOptions {
        config: Some(config),
        ..Default::default()
    });
    agent.setup("biblio", "camille", "un mot de passe solide");

    let chromedriver = Driver::start();
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary("/usr/bin/chromium")?;
    for arg in chromedriver.chromium_args(1366, 900) {
        caps.add_arg(&arg)?;
    }
    let driver = WebDriver::new(&chromedriver.url, caps).await?;
    let result = walk(&driver, &agent, &www, &t.join("release.key"), &bundle).await;
    driver.quit().await?;
    result
}

async fn walk(
    driver: &WebDriver,
    agent: &Agent,
    www: &Path,
    key: &Path,
    bundle: &[u8],
) -> WebDriverResult<()> {
    driver.goto(agent.url("/admin/login")).await?;
    wait(driver, By::Id("username"))
        .await?
        .send_keys("camille")
        .await?;
    driver
        .find(By::Id("password"))
        .await?
        .send_keys("un mot de passe solide")
        .await?;
    driver.find(By::Id("login-submit")).await?.click().await?;
    wait(driver, By::Id("box-name")).await?;
    // The navigation leads to the page.
    driver
        .find(By::Css("a[href='/admin/update']"))
        .await?
        .click()
        .await?;
    let running = wait(driver, By::Id("update-running")).await?;
    assert!(running.text().await?.contains("2026.12.0"));
    driver.find(By::Id("update-check")).await?.click().await?;
    let available = wait(driver, By::Id("update-available")).await?;
    assert_eq!(
        available.attr("data-version").await?.as_deref(),
        Some("2027.1.0")
    );
    let notes = driver.find(By::Id("update-notes")).await?.text().await?;
    assert_eq!(notes.trim(), NOTES_FR);
    driver
        .screenshot(&artifacts_dir().join("update-offered.png"))
        .await?;

    // Install, restarting at 4 at night.
    driver.find(By::Id("restart-at")).await?.click().await?;
    driver
        .find(By::Css("#restart-hour option[value='4']"))
        .await?
        .click()
        .await?;
    driver.find(By::Id("update-install")).await?.click().await?;
    wait(driver, By::Id("attempt")).await?;
    // The bundle is downloaded and checked, then RAUC needs a system slot this test machine
    // does not have: the page says so, in French.
    let state = wait(
        driver,
        By::Css("#attempt-state[data-state='failed'], #attempt-state[data-state='installed']"),
    )
    .await?;
    assert_eq!(state.attr("data-state").await?.as_deref(), Some("failed"));
    let error = driver.find(By::Id("attempt-error")).await?.text().await?;
    assert!(error.contains("emplacement système"), "{error}");
    let downloaded = std::fs::read_dir(agent.data_dir.join("update"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .any(|b| b == bundle);
    assert!(downloaded, "the bundle was downloaded whole");
    driver
        .screenshot(&artifacts_dir().join("update-failed.png"))
        .await?;

    // A mirror that changes the index after signing is refused, and the page says why.
    let index = std::fs::read_to_string(www.join("index.json")).unwrap();
    std::fs::write(
        www.join("index.json"),
        index.replace(NOTES_FR, "Installez vite !"),
    )
    .unwrap();
    driver.find(By::Id("update-check")).await?.click().await?;
    let refused = wait(driver, By::Id("update-check-error"))
        .await?
        .text()
        .await?;
    assert!(refused.contains("modifié après sa signature"), "{refused}");
    // The kept offer stays the signed one.
    let notes = driver.find(By::Id("update-notes")).await?.text().await?;
    assert_eq!(notes.trim(), NOTES_FR);
    // Signed again with a newer serial, it is accepted.
    channel(www, key, bundle, 8);
    driver.find(By::Id("update-check")).await?.click().await?;
    wait(driver, By::Id("update-available")).await?;
    assert!(driver.find(By::Id("update-check-error")).await.is_err());
    Ok(())
}
