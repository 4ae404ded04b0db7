//! The Update page in a real browser (Debian's Chromium), in French, against a local HTTPS
//! mirror of the update channel serving an index signed with a release key made by
//! Debian's minisign: the running and offered versions with the French notes, "Install"
//! (restart at a night hour) downloading and checking the bundle, the installation's
//! outcome said on the page (this machine has no system slot, so RAUC is refused there), and
//! a tampered index refused with the reason. Screenshots go to tests/artifacts/.

use panier_system_tests::browser::{Driver, artifacts_dir};
use panier_system_tests::https::{FileServer, TestCerts};
use panier_system_tests::updates::{NOTES_FR, ReleaseKey, agent_config, bundle, write_channel};
use panier_system_tests::{Agent, AgentOptions};
use std::path::Path;
use std::time::Duration;
use thirtyfour::prelude::*;

/// The text of the first element `by` finds, retried while the page reloads itself (it does
/// every 2 s while an installation runs, which makes found elements stale).
async fn text_of(driver: &WebDriver, by: By) -> WebDriverResult<String> {
    let start = std::time::Instant::now();
    loop {
        let found = async { driver.find(by.clone()).await?.text().await }.await;
        match found {
            Ok(t) => return Ok(t),
            Err(e) if start.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// An attribute of the first element `by` finds, retried like [`text_of`].
async fn attr_of(driver: &WebDriver, by: By, name: &str) -> WebDriverResult<Option<String>> {
    let start = std::time::Instant::now();
    loop {
        let found = async { driver.find(by.clone()).await?.attr(name).await }.await;
        match found {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
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
    let key = ReleaseKey::make(t);
    let bundle = bundle(3_000_000);
    write_channel(&www, &key, &bundle, 7);
    let certs = TestCerts::make(t).unwrap();
    let mirror = FileServer::start(&certs, &www).unwrap();
    let config = agent_config(t, Some(&mirror.url("/index.json")), Some(&certs.ca), &key);
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
    let result = walk(&driver, &agent, &www, &key, &bundle).await;
    driver.quit().await?;
    result
}

async fn walk(
    driver: &WebDriver,
    agent: &Agent,
    www: &Path,
    key: &ReleaseKey,
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
    wait(driver, By::Id("update-running")).await?;
    assert!(
        text_of(driver, By::Id("update-running"))
            .await?
            .contains("2026.12.0")
    );
    driver.find(By::Id("update-check")).await?.click().await?;
    wait(driver, By::Id("update-available")).await?;
    assert_eq!(
        attr_of(driver, By::Id("update-available"), "data-version")
            .await?
            .as_deref(),
        Some("2027.1.0")
    );
    let notes = text_of(driver, By::Id("update-notes")).await?;
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
    text_of(driver, By::Css("#attempt-state[data-state='failed']")).await?;
    let error = text_of(driver, By::Id("attempt-error")).await?;
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
    wait(driver, By::Id("update-check-error")).await?;
    let refused = text_of(driver, By::Id("update-check-error")).await?;
    assert!(refused.contains("modifié après sa signature"), "{refused}");
    // The kept offer stays the signed one.
    let notes = text_of(driver, By::Id("update-notes")).await?;
    assert_eq!(notes.trim(), NOTES_FR);
    // Signed again with a newer serial, it is accepted.
    write_channel(www, key, bundle, 8);
    driver.find(By::Id("update-check")).await?.click().await?;
    // The new page has no refusal any more.
    let start = std::time::Instant::now();
    while driver.find(By::Id("update-check-error")).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the refusal stays"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait(driver, By::Id("update-available")).await?;
    Ok(())
}
