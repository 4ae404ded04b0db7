//! A mediator in a real browser, in French, without JavaScript being needed: the first visit
//! (setup → dashboard → logout → login → logout), and offering a service (log in → catalog →
//! install the test "site" on the real container engine → its page shows it running → stop),
//! and axe-core over every admin page (listed from the router's table) and the portal.
//! Screenshots go to tests/artifacts/.

use panier_system_tests::axe;
use panier_system_tests::browser::{Driver, artifacts_dir};
use panier_system_tests::engine::engine_url;
use panier_system_tests::services::{EngineCleanup, suffix, test_catalog, test_image};
use panier_system_tests::{Agent, AgentOptions};
use std::time::Duration;
use thirtyfour::prelude::*;

/// Waits (up to 30 s, the machine may be loaded) for an element: after a click that posts a
/// form, this is what proves the next page is there.
async fn wait(driver: &WebDriver, by: By) -> WebDriverResult<WebElement> {
    driver
        .query(by)
        .wait(
            std::time::Duration::from_secs(30),
            std::time::Duration::from_millis(100),
        )
        .first()
        .await
}

async fn wait_h1(driver: &WebDriver, text: &str) -> WebDriverResult<()> {
    wait(
        driver,
        By::XPath(format!("//h1[normalize-space()=\"{text}\"]")),
    )
    .await
    .map(|_| ())
}

async fn fill(driver: &WebDriver, id: &str, value: &str) -> WebDriverResult<()> {
    let field = wait(driver, By::Id(id)).await?;
    field.clear().await?;
    field.send_keys(value).await
}

/// Fills the setup form (box "mediatheque", admin "camille") with `code` and sends it.
async fn fill_setup(driver: &WebDriver, code: &str) -> WebDriverResult<()> {
    fill(driver, "code", code).await?;
    fill(driver, "box_name", "mediatheque").await?;
    fill(driver, "username", "camille").await?;
    fill(driver, "password", "une phrase de passe").await?;
    fill(driver, "password2", "une phrase de passe").await?;
    driver.find(By::Id("setup-submit")).await?.click().await
}

/// Logs out with the header's button and waits for the login page.
async fn log_out(driver: &WebDriver) -> WebDriverResult<()> {
    driver
        .find(By::XPath("//button[normalize-space()='Se déconnecter']"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Connexion").await
}

async fn browser(chromedriver: &Driver) -> WebDriverResult<WebDriver> {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary("/usr/bin/chromium")?;
    for arg in chromedriver.chromium_args(1366, 768) {
        caps.add_arg(&arg)?;
    }
    WebDriver::new(&chromedriver.url, caps).await
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_login_dashboard_logout_in_french() -> WebDriverResult<()> {
    let agent = Agent::start();
    let code = agent.setup_code();
    let chromedriver = Driver::start();
    let driver = browser(&chromedriver).await?;
    let result = walk(&driver, &agent, &code).await;
    driver.quit().await?;
    result
}

async fn walk(driver: &WebDriver, agent: &Agent, code: &str) -> WebDriverResult<()> {
    driver.goto(agent.url("/admin")).await?;
    wait_h1(driver, "Bienvenue : configurons la boîte").await?;
    assert!(driver.current_url().await?.path().ends_with("/admin/setup"));
    assert_eq!(
        driver
            .find(By::Tag("html"))
            .await?
            .attr("lang")
            .await?
            .as_deref(),
        Some("fr")
    );

    // A wrong code first: the page says so, in French, and keeps what was typed.
    fill_setup(driver, "AAAAA-AAAAA").await?;
    let error = wait(driver, By::Id("form-error")).await?.text().await?;
    assert!(
        error.contains("code de configuration n'est pas le bon"),
        "{error}"
    );
    assert_eq!(
        driver
            .find(By::Id("box_name"))
            .await?
            .value()
            .await?
            .as_deref(),
        Some("mediatheque")
    );

    fill(driver, "code", &code.to_lowercase()).await?;
    fill(driver, "password", "une phrase de passe").await?;
    fill(driver, "password2", "une phrase de passe").await?;
    driver
        .screenshot(&artifacts_dir().join("setup-fr.png"))
        .await?;
    driver.find(By::Id("setup-submit")).await?.click().await?;

    // The dashboard, logged in straight away.
    wait_h1(driver, "Tableau de bord").await?;
    assert!(driver.current_url().await?.path().ends_with("/admin"));
    assert_eq!(
        driver.find(By::Id("box-name")).await?.text().await?,
        "mediatheque"
    );
    driver
        .screenshot(&artifacts_dir().join("dashboard-fr.png"))
        .await?;

    // Log out, then back in through the login form.
    log_out(driver).await?;
    assert!(driver.current_url().await?.path().ends_with("/admin/login"));
    fill(driver, "username", "camille").await?;
    fill(driver, "password", "pas le bon mot de passe").await?;
    driver.find(By::Id("login-submit")).await?.click().await?;
    assert!(
        wait(driver, By::Id("form-error"))
            .await?
            .text()
            .await?
            .contains("incorrect")
    );
    fill(driver, "password", "une phrase de passe").await?;
    driver.find(By::Id("login-submit")).await?.click().await?;
    wait_h1(driver, "Tableau de bord").await?;

    // Keyboard: the skip link is the first thing focused.
    driver.action_chain().send_keys(Key::Tab).perform().await?;
    let focused = driver.active_element().await?;
    assert_eq!(focused.text().await?, "Aller au contenu");

    // On a phone-sized screen the page still fits without horizontal scrolling.
    driver.set_window_rect(0, 0, 390, 844).await?;
    let overflow = driver
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await?;
    assert_eq!(
        overflow.json(),
        &serde_json::Value::Bool(true),
        "no horizontal scroll on a phone"
    );
    driver
        .screenshot(&artifacts_dir().join("dashboard-phone-fr.png"))
        .await?;

    log_out(driver).await?;
    driver.goto(agent.url("/admin")).await?;
    wait_h1(driver, "Connexion").await?;
    assert!(
        driver.current_url().await?.path().ends_with("/admin/login"),
        "the session is gone"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn offer_a_service_from_the_catalog_and_stop_it_one_job_at_a_time() -> WebDriverResult<()> {
    let engine = engine_url();
    test_image(&engine);
    let catalog = tempfile::tempdir().unwrap();
    let suffix = suffix();
    let ids = test_catalog(catalog.path(), &suffix);
    let _cleanup = EngineCleanup {
        engine: engine.clone(),
        ids,
    };
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine.clone()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        ..Default::default()
    });
    agent.setup("biblio", "camille", "un mot de passe solide");
    let chromedriver = Driver::start();
    let driver = browser(&chromedriver).await?;
    let mut result = offer(&driver, &agent, &format!("site{suffix}")).await;
    if result.is_ok() {
        result = one_job_at_a_time(&driver, &format!("slow{suffix}")).await;
    }
    if result.is_err() {
        let _ = driver
            .screenshot(&artifacts_dir().join("service-failure.png"))
            .await;
        eprintln!("{}", agent.log_text());
    }
    driver.quit().await?;
    result
}

/// Waits up to `secs` for an element, across the page's own reloads (meta refresh).
async fn wait_for(driver: &WebDriver, by: By, secs: u64) -> WebDriverResult<WebElement> {
    driver
        .query(by)
        .wait(Duration::from_secs(secs), Duration::from_millis(200))
        .first()
        .await
}

async fn offer(driver: &WebDriver, agent: &Agent, site: &str) -> WebDriverResult<()> {
    driver.goto(agent.url("/admin")).await?;
    wait_h1(driver, "Connexion").await?;
    fill(driver, "username", "camille").await?;
    fill(driver, "password", "un mot de passe solide").await?;
    driver.find(By::Id("login-submit")).await?.click().await?;
    wait_h1(driver, "Tableau de bord").await?;
    assert!(
        driver
            .find(By::Id("services-h"))
            .await?
            .text()
            .await?
            .contains("Services installés")
    );

    // The catalog: cards by category, with what each needs and whether it fits.
    driver
        .find(By::XPath("//nav//a[normalize-space()='Catalogue']"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Catalogue des services").await?;
    let card = driver.find(By::Id(format!("card-{site}"))).await?;
    let text = card.text().await?;
    assert!(
        text.contains("Site de test")
            && text.contains("Besoins : 16 Mio de mémoire, 10 Mio de disque."),
        "{text}"
    );
    assert!(text.contains("Tient sur cette boîte."), "{text}");
    assert!(
        driver
            .find(By::XPath(
                "//a[@id='need-websites'][starts-with(normalize-space(), 'Sites web et blogs')]"
            ))
            .await
            .is_ok(),
        "the filter by need names the category"
    );
    driver
        .screenshot(&artifacts_dir().join("catalog-fr.png"))
        .await?;

    // Its page: the description and the install form (no settings for this one).
    card.find(By::LinkText("Site de test"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Site de test").await?;
    assert!(driver.find(By::Id("about-h")).await.is_ok());
    driver.find(By::Id("install-submit")).await?.click().await?;

    // The service's page follows the job until the service runs.
    let state = wait_for(
        driver,
        By::XPath("//dd[@id='app-state'][@data-state='running']"),
        120,
    )
    .await;
    if state.is_err() {
        panic!(
            "the service did not come up; the page says:\n{}",
            driver.find(By::Tag("main")).await?.text().await?
        );
    }
    assert_eq!(
        driver.find(By::Id("app-state")).await?.text().await?,
        "en marche"
    );
    assert_eq!(
        driver.find(By::Id("job-kind")).await?.text().await?,
        "Installation"
    );
    assert_eq!(
        driver.find(By::Id("job-state")).await?.text().await?,
        "terminée"
    );
    let url = driver.find(By::Id("app-url")).await?.text().await?;
    assert!(url.contains(&format!("{site}-biblio.local")), "{url}");
    driver
        .screenshot(&artifacts_dir().join("service-running-fr.png"))
        .await?;
    let findings = axe_findings(driver, &axe::source(), &format!("/admin/apps/{site}")).await?;
    assert!(findings.is_empty(), "{}", findings.join("\n"));
    // On a phone-sized screen the service's page fits without horizontal scrolling.
    driver.set_window_rect(0, 0, 390, 844).await?;
    let fits = driver
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await?;
    driver
        .screenshot(&artifacts_dir().join("service-phone-fr.png"))
        .await?;
    if fits.json() != &serde_json::Value::Bool(true) {
        let wide = driver
            .execute("return [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ');", vec![])
            .await?;
        panic!("horizontal scroll on a phone, from: {}", wide.json());
    }
    driver.set_window_rect(0, 0, 1366, 768).await?;

    // Stop it.
    driver.find(By::Id("app-stop")).await?.click().await?;
    wait_for(
        driver,
        By::XPath("//dd[@id='app-state'][@data-state='stopped']"),
        60,
    )
    .await?;
    wait_for(
        driver,
        By::XPath("//span[@id='job-state'][normalize-space()='terminée']"),
        60,
    )
    .await?;
    assert_eq!(
        driver.find(By::Id("job-kind")).await?.text().await?,
        "Arrêt"
    );
    driver
        .screenshot(&artifacts_dir().join("service-stopped-fr.png"))
        .await?;

    // The dashboard lists it, stopped, with a link to its page.
    driver
        .find(By::XPath("//nav//a[normalize-space()='Tableau de bord']"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Tableau de bord").await?;
    let list = driver
        .find(By::Id("dashboard-services"))
        .await?
        .text()
        .await?;
    assert!(
        list.contains("Site de test") && list.contains("arrêté"),
        "{list}"
    );

    // Uninstall keeping the data, then delete it: only once its id is typed.
    driver
        .find(By::LinkText("Site de test"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Site de test").await?;
    driver.find(By::Id("app-remove")).await?.click().await?;
    wait_for(driver, By::Id("app-not-installed"), 60).await?;
    wait_for(
        driver,
        By::XPath("//span[@id='job-state'][normalize-space()='terminée']"),
        60,
    )
    .await?;
    fill(driver, "delete-confirm", "pas le bon").await?;
    driver
        .find(By::Id("app-delete-data"))
        .await?
        .click()
        .await?;
    let error = wait_for(driver, By::Id("form-error"), 30)
        .await?
        .text()
        .await?;
    assert!(
        error.contains(&format!(
            "tapez exactement l'identifiant du service : {site}"
        )),
        "{error}"
    );
    fill(driver, "delete-confirm", site).await?;
    driver
        .find(By::Id("app-delete-data"))
        .await?
        .click()
        .await?;
    wait_for(driver, By::XPath("//strong[@id='job-kind'][normalize-space()='Désinstallation avec suppression des données']"), 30).await?;
    wait_for(
        driver,
        By::XPath("//span[@id='job-state'][normalize-space()='terminée']"),
        60,
    )
    .await?;
    assert!(
        driver.find(By::Id("app-delete-data")).await.is_err(),
        "no data left to delete"
    );
    assert!(
        !agent.data_dir.join("apps").join(site).exists(),
        "the service's files are gone"
    );
    Ok(())
}

/// The "slow" test service takes a few seconds to become healthy: its page shows the job's
/// progress meanwhile; once it runs, a restart takes as long, and a stop asked during it is
/// refused in plain words.
async fn one_job_at_a_time(driver: &WebDriver, slow: &str) -> WebDriverResult<()> {
    driver
        .find(By::XPath("//nav//a[normalize-space()='Catalogue']"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Catalogue des services").await?;
    driver
        .find(By::Id(format!("card-{slow}")))
        .await?
        .find(By::LinkText("Lent"))
        .await?
        .click()
        .await?;
    wait_h1(driver, "Lent").await?;
    driver.find(By::Id("install-submit")).await?.click().await?;
    wait_for(driver, By::Id("job-progress"), 30).await?;
    assert_eq!(
        driver.find(By::Id("job-state")).await?.text().await?,
        "en cours"
    );
    assert!(
        driver.find(By::Id("app-stop")).await.is_err(),
        "no start/stop while it is being installed"
    );
    driver
        .screenshot(&artifacts_dir().join("service-installing-fr.png"))
        .await?;
    wait_for(
        driver,
        By::XPath("//dd[@id='app-state'][@data-state='running']"),
        60,
    )
    .await?;

    driver.find(By::Id("app-restart")).await?.click().await?;
    // The page reloads itself every 2 s: retry if it was replaced under the click.
    let mut refused = None;
    for _ in 0..5 {
        let click = async {
            driver.find(By::Id("app-stop")).await?.click().await?;
            wait_for(driver, By::Id("form-error"), 10)
                .await?
                .text()
                .await
        };
        if let Ok(text) = click.await {
            refused = Some(text);
            break;
        }
    }
    let refused = refused.expect("the stop button answered");
    assert!(
        refused.contains("est occupé") && refused.contains("Redémarrage"),
        "{refused}"
    );
    wait_for(
        driver,
        By::XPath("//span[@id='job-state'][normalize-space()='terminée']"),
        60,
    )
    .await?;
    wait_for(
        driver,
        By::XPath("//dd[@id='app-state'][@data-state='running']"),
        60,
    )
    .await?;
    Ok(())
}

/// Runs axe-core in the page shown now; its serious and critical findings, said plainly.
async fn axe_findings(
    driver: &WebDriver,
    source: &str,
    page: &str,
) -> WebDriverResult<Vec<String>> {
    driver.execute(source, vec![]).await?;
    let answer = driver.execute_async(axe::RUN, vec![]).await?;
    let text = answer.json().as_str().unwrap_or_default().to_owned();
    assert!(!text.starts_with("error"), "axe on {page}: {text}");
    Ok(axe::blocking(page, &text))
}

/// The status of `path` fetched by the page itself (same origin), e.g. its icon.
async fn fetched_status(driver: &WebDriver, path: &str) -> WebDriverResult<u64> {
    let script = "const done = arguments[arguments.length - 1];\
        fetch(arguments[0]).then(r => done(r.status)).catch(() => done(0));";
    let answer = driver.execute_async(script, vec![path.into()]).await?;
    Ok(answer.json().as_u64().unwrap_or(0))
}

/// An admin page's address from the router's table, `{param}`s filled with a real catalog
/// entry; `None` for what is not a page (icons).
fn page_uri(path: &str) -> Option<String> {
    if path.ends_with(".svg") {
        return None;
    }
    Some(path.replace("{id}", "etherpad").replace("{name}", "usb"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_admin_page_and_the_portal_pass_axe() -> WebDriverResult<()> {
    let source = axe::source();
    let nowhere = tempfile::tempdir().unwrap();
    let services = panier_system_tests::workspace_root().join("services");
    let agent = Agent::start_with(AgentOptions {
        web_entry: true,
        engine: Some(format!(
            "unix://{}/no-engine.sock",
            nowhere.path().display()
        )),
        extra_args: vec!["--catalog".into(), services.display().to_string()],
        ..Default::default()
    });
    let code = agent.setup_code();
    let chromedriver = Driver::start();
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary("/usr/bin/chromium")?;
    // The admin UI is HTTPS with the box's own authority, which this profile does not trust.
    for arg in chromedriver
        .chromium_args(1366, 768)
        .into_iter()
        .chain(["--ignore-certificate-errors".to_owned()])
    {
        caps.add_arg(&arg)?;
    }
    let driver = WebDriver::new(&chromedriver.url, caps).await?;
    let result = audit(&driver, &agent, &source, &code).await;
    if result.is_err() {
        eprintln!("{}", agent.log_text());
    }
    driver.quit().await?;
    let findings = result?;
    assert!(
        findings.is_empty(),
        "serious or critical accessibility problems:\n{}",
        findings.join("\n")
    );
    Ok(())
}

async fn audit(
    driver: &WebDriver,
    agent: &Agent,
    source: &str,
    code: &str,
) -> WebDriverResult<Vec<String>> {
    let admin = |path: &str| format!("https://127.0.0.1:{}{path}", agent.port);
    let mut findings = Vec::new();
    let mut checked = 0;

    // Before setup: the wizard and what it links to.
    for path in [
        "/admin/setup",
        "/admin/setup/restore",
        "/admin/setup/install",
    ] {
        driver.goto(admin(path)).await?;
        wait(driver, By::Tag("h1")).await?;
        findings.extend(axe_findings(driver, source, path).await?);
        checked += 1;
    }
    for icon in ["/favicon.ico", "/admin/static/favicon.svg"] {
        assert_eq!(fetched_status(driver, icon).await?, 200, "{icon}");
    }

    // The box name's pattern is live in this browser (a pattern invalid under the `v` flag
    // is silently ignored).
    driver.goto(admin("/admin/setup")).await?;
    fill(driver, "box_name", "Pas Bon").await?;
    let mismatch = driver
        .execute(
            "return document.getElementById('box_name').validity.patternMismatch;",
            vec![],
        )
        .await?;
    assert_eq!(
        mismatch.json(),
        &serde_json::Value::Bool(true),
        "the pattern checks"
    );

    fill_setup(driver, code).await?;
    wait_h1(driver, "Tableau de bord").await?;

    // Every admin page the router has, enumerated from its table.
    for page in panier::web::pages() {
        if page.method.as_str() != "GET" || page.who != panier::web::Who::Admin {
            continue;
        }
        let Some(path) = page_uri(page.path) else {
            continue;
        };
        driver.goto(admin(&path)).await?;
        wait(driver, By::Tag("h1")).await?;
        findings.extend(axe_findings(driver, source, &path).await?);
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} pages checked");

    // The Catalog page on a 1366×768 screen: the filter and a first row of cards show
    // without scrolling.
    driver.goto(admin("/admin/catalog")).await?;
    let shown = driver
        .execute(
            "return [...document.querySelectorAll('#catalog-cards > li')]\
                .filter(li => li.getBoundingClientRect().top < window.innerHeight).length;",
            vec![],
        )
        .await?;
    let shown = shown.json().as_u64().unwrap_or(0);
    assert!(shown >= 5, "{shown} cards on the first screen");
    driver
        .screenshot(&artifacts_dir().join("catalog-grid-fr.png"))
        .await?;

    // The login page, after logging out.
    log_out(driver).await?;
    findings.extend(axe_findings(driver, source, "/admin/login").await?);

    // The portal and the authority's page, on plain HTTP.
    for path in ["/", "/ca"] {
        driver.goto(agent.http_url(path)).await?;
        wait(driver, By::Tag("h1")).await?;
        findings.extend(axe_findings(driver, source, &format!("portal {path}")).await?);
    }
    assert_eq!(
        fetched_status(driver, "/favicon.ico").await?,
        200,
        "the portal's icon"
    );
    driver
        .screenshot(&artifacts_dir().join("portal-fr.png"))
        .await?;
    Ok(findings)
}
