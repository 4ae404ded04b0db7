//! A mediator's first visit, in a real browser: setup → dashboard → logout → login → logout,
//! in French, without JavaScript being needed. Screenshots go to tests/artifacts/.

use panier_system_tests::Agent;
use panier_system_tests::browser::{Driver, artifacts_dir};
use thirtyfour::prelude::*;

/// Waits (up to 30 s, the machine may be loaded) for an element: after a click that posts a
/// form, this is what proves the next page is there.
async fn wait(driver: &WebDriver, by: By) -> WebDriverResult<WebElement> {
    driver.query(by).wait(std::time::Duration::from_secs(30), std::time::Duration::from_millis(100)).first().await
}

async fn wait_h1(driver: &WebDriver, text: &str) -> WebDriverResult<()> {
    wait(driver, By::XPath(format!("//h1[normalize-space()=\"{text}\"]"))).await.map(|_| ())
}

async fn fill(driver: &WebDriver, id: &str, value: &str) -> WebDriverResult<()> {
    let field = wait(driver, By::Id(id)).await?;
    field.clear().await?;
    field.send_keys(value).await
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_login_dashboard_logout_in_french() -> WebDriverResult<()> {
    let agent = Agent::start();
    let code = agent.setup_code();
    let chromedriver = Driver::start();
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary("/usr/bin/chromium")?;
    for arg in chromedriver.chromium_args(1366, 768) {
        caps.add_arg(&arg)?;
    }
    let driver = WebDriver::new(&chromedriver.url, caps).await?;
    let result = walk(&driver, &agent, &code).await;
    driver.quit().await?;
    result
}

async fn walk(driver: &WebDriver, agent: &Agent, code: &str) -> WebDriverResult<()> {
    driver.goto(agent.url("/admin")).await?;
    wait_h1(driver, "Bienvenue : configurons la boîte").await?;
    assert!(driver.current_url().await?.path().ends_with("/admin/setup"));
    assert_eq!(driver.find(By::Tag("html")).await?.attr("lang").await?.as_deref(), Some("fr"));

    // A wrong code first: the page says so, in French, and keeps what was typed.
    fill(driver, "code", "AAAAA-AAAAA").await?;
    fill(driver, "box_name", "mediatheque").await?;
    fill(driver, "username", "camille").await?;
    fill(driver, "password", "une phrase de passe").await?;
    fill(driver, "password2", "une phrase de passe").await?;
    driver.find(By::Id("setup-submit")).await?.click().await?;
    let error = wait(driver, By::Id("form-error")).await?.text().await?;
    assert!(error.contains("code de configuration n'est pas le bon"), "{error}");
    assert_eq!(driver.find(By::Id("box_name")).await?.value().await?.as_deref(), Some("mediatheque"));

    fill(driver, "code", &code.to_lowercase()).await?;
    fill(driver, "password", "une phrase de passe").await?;
    fill(driver, "password2", "une phrase de passe").await?;
    driver.screenshot(&artifacts_dir().join("setup-fr.png")).await?;
    driver.find(By::Id("setup-submit")).await?.click().await?;

    // The dashboard, logged in straight away.
    wait_h1(driver, "Tableau de bord").await?;
    assert!(driver.current_url().await?.path().ends_with("/admin"));
    assert_eq!(driver.find(By::Id("box-name")).await?.text().await?, "mediatheque");
    driver.screenshot(&artifacts_dir().join("dashboard-fr.png")).await?;

    // Log out, then back in through the login form.
    driver.find(By::XPath("//button[normalize-space()='Se déconnecter']")).await?.click().await?;
    wait_h1(driver, "Connexion").await?;
    assert!(driver.current_url().await?.path().ends_with("/admin/login"));
    fill(driver, "username", "camille").await?;
    fill(driver, "password", "pas le bon mot de passe").await?;
    driver.find(By::Id("login-submit")).await?.click().await?;
    assert!(wait(driver, By::Id("form-error")).await?.text().await?.contains("incorrect"));
    fill(driver, "password", "une phrase de passe").await?;
    driver.find(By::Id("login-submit")).await?.click().await?;
    wait_h1(driver, "Tableau de bord").await?;

    // Keyboard: the skip link is the first thing focused.
    driver.action_chain().send_keys(Key::Tab).perform().await?;
    let focused = driver.active_element().await?;
    assert_eq!(focused.text().await?, "Aller au contenu");

    // On a phone-sized screen the page still fits without horizontal scrolling.
    driver.set_window_rect(0, 0, 390, 844).await?;
    let overflow = driver.execute("return document.documentElement.scrollWidth <= window.innerWidth + 1;", vec![]).await?;
    assert_eq!(overflow.json(), &serde_json::Value::Bool(true), "no horizontal scroll on a phone");
    driver.screenshot(&artifacts_dir().join("dashboard-phone-fr.png")).await?;

    driver.find(By::XPath("//button[normalize-space()='Se déconnecter']")).await?.click().await?;
    wait_h1(driver, "Connexion").await?;
    driver.goto(agent.url("/admin")).await?;
    wait_h1(driver, "Connexion").await?;
    assert!(driver.current_url().await?.path().ends_with("/admin/login"), "the session is gone");
    Ok(())
}
