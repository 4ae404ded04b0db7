//! The agent as the box's web entry, with real traffic: services by name over HTTP and HTTPS
//! (Host and SNI, verified against the box's authority), fixed ports, WebSocket, a 1 GiB
//! upload with the agent's memory staying flat, the helpful page for unknown names, the
//! portal and the CA download; and a service installed from the test catalog on the real
//! engine, reached by name (HTTP and HTTPS), on its fixed port, and listed by the portal in
//! French and English.
//!
//! Backends are real servers started here: Debian's busybox `httpd` (pages and a CGI that
//! prints the forwarded headers), a WebSocket echo server and a byte-counting upload sink.

use panier_system_tests::{Agent, AgentOptions, free_port};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::Duration;

struct Busybox(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Busybox {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// busybox httpd on loopback with a page and a CGI printing the forwarded headers.
fn busybox_httpd() -> (Busybox, u16) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<h1>hello from busybox</h1>\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("cgi-bin")).unwrap();
    let cgi = dir.path().join("cgi-bin/env.sh");
    std::fs::write(
        &cgi,
        "#!/bin/busybox sh\necho 'Content-Type: text/plain'\necho\necho \"for=$HTTP_X_FORWARDED_FOR proto=$HTTP_X_FORWARDED_PROTO host=$HTTP_X_FORWARDED_HOST\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let child = Command::new("/bin/busybox")
        .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
        .arg(dir.path())
        .spawn()
        .unwrap();
    panier_system_tests::wait_until(Duration::from_secs(5), "busybox httpd", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .unwrap();
    (Busybox(child, dir), port)
}

/// A WebSocket echo server (one thread per connection).
fn websocket_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(msg) = ws.read() {
                    if msg.is_text() || msg.is_binary() {
                        let _ = ws.send(msg);
                    }
                }
            });
        }
    });
    port
}

/// An HTTP server that reads a request body of `Content-Length` bytes and answers with the
/// count.
fn upload_sink() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut length, mut chunked) = (0u64, false);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    chunked |= line.to_ascii_lowercase().starts_with("transfer-encoding:")
                        && line.to_ascii_lowercase().contains("chunked");
                }
                let mut buf = vec![0u8; 1 << 16];
                let mut got = 0u64;
                // Like a real server, read the whole body before answering: chunk by chunk
                // when its length is not announced; a body cut short gets no answer.
                let mut read_exactly = |reader: &mut BufReader<TcpStream>, mut n: u64| -> bool {
                    while n > 0 {
                        match reader.read(&mut buf[..n.min(1 << 16) as usize]) {
                            Ok(0) | Err(_) => return false,
                            Ok(k) => n -= k as u64,
                        }
                    }
                    true
                };
                if chunked {
                    loop {
                        let mut size = String::new();
                        if reader.read_line(&mut size).unwrap_or(0) == 0 {
                            return;
                        }
                        let Ok(n) =
                            u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                        else {
                            return;
                        };
                        if !read_exactly(&mut reader, n + 2) {
                            return;
                        }
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                } else if read_exactly(&mut reader, length) {
                    got = length;
                } else {
                    return;
                }
                let body = format!("received {got}");
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    assert!(
        out.status.success() || !code.is_empty(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code.to_owned(), body.to_owned())
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

fn start_box(routes: &str) -> Agent {
    let config = format!("box_name = \"biblio\"\n{routes}");
    Agent::start_with(AgentOptions {
        config: Some(config),
        web_entry: true,
        ..Default::default()
    })
}

#[test]
fn services_by_name_over_http_and_https_fixed_ports_websocket_and_help_pages() {
    let (_httpd, web) = busybox_httpd();
    let ws = websocket_echo();
    let agent = start_box(&format!(
        "[[extra_routes]]\nname = \"web\"\ntitle = \"Site de la médiathèque\"\ndescription = \"Le site\"\nupstream = \"127.0.0.1:{web}\"\n\
         [[extra_routes]]\nname = \"echo\"\nupstream = \"127.0.0.1:{ws}\"\n"
    ));
    let (http, https) = (agent.http_port, agent.port);

    // HTTP by name (Host header), with the forwarded headers.
    let (code, body) = curl(&["-H", "Host: web-biblio.local", &agent.http_url("/")]);
    assert_eq!(
        (code.as_str(), body.trim()),
        ("200", "<h1>hello from busybox</h1>")
    );
    let (_, env) = curl(&[
        "-H",
        "Host: web-biblio.local",
        &agent.http_url("/cgi-bin/env.sh"),
    ]);
    assert!(
        env.contains("for=127.0.0.1 proto=http host=web-biblio.local"),
        "{env}"
    );

    // HTTPS by name (SNI and Host), the chain verified against the box's authority by curl.
    let ca = agent.ca_pem_path();
    let resolve = format!("web-biblio.local:{https}:127.0.0.1");
    let url = format!("https://web-biblio.local:{https}/cgi-bin/env.sh");
    let (code, env) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        &url,
    ]);
    assert_eq!(code, "200", "{env}");
    assert!(env.contains("proto=https host=web-biblio.local"), "{env}");
    // The admin UI is on HTTPS under the box's name, with the same certificate.
    let resolve = format!("biblio.local:{https}:127.0.0.1");
    let (code, health) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        &format!("https://biblio.local:{https}/api/v1/health"),
    ]);
    assert_eq!(code, "200");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    // The certificate is refused without the box's authority (no silent trust).
    let out = Command::new("curl")
        .args([
            "-sS",
            "--resolve",
            &resolve,
            &format!("https://biblio.local:{https}/"),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an unknown authority must be refused"
    );

    // Plain HTTP: /admin says which https address to type (no redirect, no link: a plain page
    // can be rewritten on a shared LAN), /api is refused, and nothing is done there: a login
    // posted over HTTP gets no session.
    let https_only = |method: &str, path: &str| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-D",
                "-",
                "-X",
                method,
                "-H",
                "Host: biblio.local",
                "-H",
                "content-type: application/json",
            ])
            .args([
                "--data",
                r#"{"username":"camille","password":"un mot de passe solide"}"#,
            ])
            .arg(agent.http_url(path))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(text.starts_with("http/1.1 403"), "{method} {path}: {text}");
        assert!(!text.contains("location:"), "{method} {path}: {text}");
        assert!(!text.contains("set-cookie"), "{method} {path}: {text}");
        assert!(!text.contains("href=\"https://"), "{method} {path}: {text}");
    };
    https_only("POST", "/admin/login");
    https_only("POST", "/api/v1/login");
    https_only("POST", "/api/v1/setup");
    let (code, page) = curl(&["-H", "Host: biblio.local", &agent.http_url("/admin/login")]);
    assert_eq!(code, "200");
    assert!(
        page.contains(&format!("<code>https://biblio.local:{https}/admin</code>")),
        "{page}"
    );
    // Over HTTPS, setup and login work, and the session cookie is Secure.
    let https_curl = |args: &[&str]| {
        let mut full = vec![
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            "-H",
            "content-type: application/json",
        ];
        full.extend_from_slice(args);
        curl(&full)
    };
    let setup = serde_json::json!({"code": agent.setup_code(), "box_name": "biblio", "language": "fr", "username": "camille", "password": "un mot de passe solide"});
    let (code, _) = https_curl(&[
        "--data",
        &setup.to_string(),
        &format!("https://biblio.local:{https}/api/v1/setup"),
    ]);
    assert_eq!(code, "204");
    let (code, head) = https_curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--data",
        r#"{"username":"camille","password":"un mot de passe solide"}"#,
        &format!("https://biblio.local:{https}/api/v1/login"),
    ]);
    assert_eq!(code, "200", "{head}");
    let cookie = head
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{head}"));
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let (code, login_page) = https_curl(&[&format!("https://biblio.local:{https}/admin/login")]);
    assert!(
        code == "200" && login_page.contains("<form"),
        "{code}: {login_page}"
    );

    let (code, portal) = curl(&[
        "-H",
        "Host: biblio.local",
        "-H",
        "Accept-Language: fr",
        &agent.http_url("/"),
    ]);
    assert_eq!(code, "200");
    assert!(
        portal.contains("Site de la médiathèque")
            && portal.contains("http://web-biblio.local/")
            && portal.contains("<svg"),
        "{portal}"
    );
    assert!(
        !portal.contains("camille") && !portal.contains("/api/v1"),
        "no admin data on the portal"
    );
    let (_, portal_en) = curl(&["-H", "Host: biblio.local", &agent.http_url("/?lang=en")]);
    assert!(portal_en.contains("The services of biblio"), "{portal_en}");
    for (lang, download, windows, ios) in [
        (
            "fr",
            "Télécharger le certificat",
            "ouvrez le fichier téléchargé",
            "Ouvrez cette page dans Safari",
        ),
        (
            "en",
            "Download the certificate",
            "open the downloaded file",
            "Open this page in Safari",
        ),
    ] {
        let (code, ca_page) = curl(&[
            "-H",
            "Host: biblio.local",
            "-H",
            &format!("Accept-Language: {lang}"),
            &agent.http_url("/ca"),
        ]);
        assert_eq!(code, "200");
        assert!(
            [
                "Windows", "macOS", "Linux", "Android", "iOS", "/ca.crt", download, windows, ios
            ]
            .iter()
            .all(|s| ca_page.contains(s)),
            "{lang}: {ca_page}"
        );
    }
    let der = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null"])
        .arg(agent.http_url("/ca.crt"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&der.stdout).contains("application/x-x509-ca-cert"),
        "the .crt download opens the installer on phones"
    );
    let (code, pem) = curl(&[&agent.http_url("/ca.pem")]);
    assert_eq!(code, "200");
    assert_eq!(
        pem.trim_end(),
        std::fs::read_to_string(&ca).unwrap().trim_end(),
        "the download is the box's authority"
    );

    // The fixed port, read from the access report over the local socket.
    let port = agent.fixed_port("web");
    assert!(port >= agent.service_port_base);
    let (code, body) = curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(
        (code.as_str(), body.trim()),
        ("200", "<h1>hello from busybox</h1>")
    );

    // An unknown name: a page that helps, not an error dump.
    let (code, page) = curl(&[
        "-H",
        "Host: nextcloud-biblio.local",
        "-H",
        "Accept-Language: fr-FR",
        &agent.http_url("/"),
    ]);
    assert_eq!(code, "404");
    assert!(
        page.contains("nextcloud-biblio.local")
            && page.contains("http://web-biblio.local/")
            && page.contains("Site de la médiathèque"),
        "{page}"
    );
    assert!(
        !page.to_lowercase().contains("panicked") && !page.contains("Error {"),
        "{page}"
    );

    // WebSocket echo through the proxy, by name.
    let stream = TcpStream::connect(("127.0.0.1", http)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = tungstenite::http::Request::builder()
        .uri("ws://echo-biblio.local/socket")
        .header("Host", "echo-biblio.local")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .body(())
        .unwrap();
    let (mut socket, response) =
        tungstenite::client(request, stream).expect("the upgrade goes through");
    assert_eq!(response.status(), 101);
    for text in ["bonjour", "une deuxième fois"] {
        socket.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(socket.read().unwrap().into_text().unwrap().as_str(), text);
    }
    socket.close(None).ok();

    // A stopped service: a page that says so.
    drop(_httpd);
    let (code, page) = curl(&[
        "-H",
        "Host: web-biblio.local",
        "-H",
        "Accept-Language: en",
        &agent.http_url("/"),
    ]);
    assert_eq!(code, "502");
    assert!(page.contains("does not answer"), "{page}");
}

#[test]
fn a_one_gib_upload_streams_with_flat_memory_and_limits_hold() {
    let sink = upload_sink();
    let agent = start_box(&format!(
        "[[extra_routes]]\nname = \"up\"\nupstream = \"127.0.0.1:{sink}\"\nmax_body_mib = 2048\n\
         [[extra_routes]]\nname = \"small\"\nupstream = \"127.0.0.1:{sink}\"\nmax_body_mib = 1\n"
    ));
    // Warm up (first connections, first pages) so the baseline is the steady state.
    for _ in 0..3 {
        curl(&["-H", "Host: biblio.local", &agent.http_url("/")]);
    }
    let before = proc_kib(agent.pid(), "VmHWM:");

    const SIZE: u64 = 1 << 30;
    let mut stream = TcpStream::connect(("127.0.0.1", agent.http_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(stream, "POST /upload HTTP/1.1\r\nHost: up-biblio.local\r\nContent-Length: {SIZE}\r\nContent-Type: application/octet-stream\r\n\r\n").unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    let mut peak_rss = 0;
    for i in 0..(SIZE >> 20) {
        stream.write_all(&chunk).unwrap();
        if i % 64 == 0 {
            peak_rss = peak_rss.max(proc_kib(agent.pid(), "VmRSS:"));
        }
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with(&format!("received {SIZE}")),
        "{answer}"
    );
    let after = proc_kib(agent.pid(), "VmHWM:");
    println!(
        "agent memory: VmHWM {before} KiB before, {after} KiB after a 1 GiB upload; VmRSS peak seen {peak_rss} KiB"
    );
    assert!(
        after < before + 64 * 1024,
        "the upload was buffered: VmHWM {before} KiB → {after} KiB"
    );

    // Over a service's limit: refused up front from Content-Length…
    let mut stream = TcpStream::connect(("127.0.0.1", agent.http_port)).unwrap();
    write!(stream, "POST /x HTTP/1.1\r\nHost: small-biblio.local\r\nContent-Length: {}\r\nAccept-Language: fr\r\nConnection: close\r\n\r\n", 4u64 << 20).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("1 Mio"),
        "the page says the limit: {answer}"
    );
    // …and while streaming when the length is not announced.
    let body = vec![b'a'; 3 << 20];
    let path = agent.data_dir.join("../chunked.bin");
    std::fs::write(&path, &body).unwrap();
    let (code, _) = curl(&[
        "-H",
        "Host: small-biblio.local",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", path.display()),
        &agent.http_url("/x"),
    ]);
    assert!(
        code == "413" || code == "502",
        "a chunked body over the limit is cut: {code}"
    );
}

#[test]
fn an_installed_service_by_name_over_http_and_https_on_its_fixed_port_and_in_the_portal() {
    use panier_system_tests::services::{EngineCleanup, suffix, test_catalog, test_image};
    let engine = panier_system_tests::engine::engine_url();
    test_image(&engine);
    let catalog = tempfile::tempdir().unwrap();
    let sfx = suffix();
    let _cleanup = EngineCleanup {
        engine: engine.clone(),
        ids: test_catalog(catalog.path(), &sfx),
    };
    let site = format!("site{sfx}");
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine),
        config: Some("box_name = \"biblio\"\n".into()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        web_entry: true,
        ..Default::default()
    });
    let out = agent.cli(&["app", "install", &site, "--follow"]);
    assert!(
        out.status.success(),
        "install: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        agent.log_text()
    );

    // HTTP by name: the route appears once the container has its address.
    let host = format!("{site}-biblio.local");
    let host_header = format!("Host: {host}");
    panier_system_tests::wait_until(
        Duration::from_secs(30),
        "the service to answer by name",
        || curl(&["-H", &host_header, &agent.http_url("/")]) == ("200".into(), "hello\n".into()),
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?}\n{}",
            curl(&["-H", &host_header, &agent.http_url("/")]),
            agent.log_text()
        )
    });

    // HTTPS by name (SNI), the chain verified against the box's authority.
    let https = agent.port;
    let resolve = format!("{host}:{https}:127.0.0.1");
    let ca = agent.ca_pem_path();
    let (code, body) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        &format!("https://{host}:{https}/"),
    ]);
    assert_eq!((code.as_str(), body.as_str()), ("200", "hello\n"));

    // Its fixed port, by address.
    let out = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&agent.socket)
        .arg("http://box/api/v1/access")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == site.as_str())
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(entry["host"], host.as_str());
    assert_eq!(entry["title"]["en"], "Test site");
    let port = entry["port"].as_u64().unwrap();
    let (code, body) = curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!((code.as_str(), body.as_str()), ("200", "hello\n"));

    // The portal lists it, in French and in English: name, description, link, QR code, and
    // the fixed-port link by the address the visitor used.
    let link = format!("http://{host}/");
    let by_address = format!("http://127.0.0.1:{port}/");
    for (lang, name, description) in [
        ("fr", "Site de test", "Des pages servies par busybox."),
        ("en", "Test site", "Pages served by busybox."),
    ] {
        let (code, portal) = curl(&[
            "-H",
            &format!("Accept-Language: {lang}"),
            &agent.http_url("/"),
        ]);
        assert_eq!(code, "200");
        for wanted in [
            name,
            description,
            link.as_str(),
            by_address.as_str(),
            "<svg",
        ] {
            assert!(
                portal.contains(wanted),
                "the {lang} portal lacks {wanted}: {portal}"
            );
        }
    }
}

/// A service whose manifest says it does not work on its fixed port (it needs its name and
/// HTTPS): that port answers why, in the visitor's language, with the link to its name, and
/// the access report says the same instead of offering the port.
#[test]
fn a_service_that_needs_its_name_says_so_on_its_fixed_port_and_in_the_access_report() {
    use panier_system_tests::services::{EngineCleanup, suffix, test_catalog, test_image};
    let engine = panier_system_tests::engine::engine_url();
    test_image(&engine);
    let catalog = tempfile::tempdir().unwrap();
    let sfx = suffix();
    let _cleanup = EngineCleanup {
        engine: engine.clone(),
        ids: test_catalog(catalog.path(), &sfx),
    };
    let app = format!("follow{sfx}");
    let agent = Agent::start_with(AgentOptions {
        engine: Some(engine),
        config: Some("box_name = \"biblio\"\n".into()),
        extra_args: vec!["--catalog".into(), catalog.path().display().to_string()],
        web_entry: true,
        ..Default::default()
    });
    let out = agent.cli(&["app", "install", &app, "--follow"]);
    assert!(out.status.success(), "{}", agent.log_text());
    let report = || -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--unix-socket"])
            .arg(&agent.socket)
            .arg("http://box/api/v1/access")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut entry = serde_json::Value::Null;
    panier_system_tests::wait_until(Duration::from_secs(30), "the route", || {
        entry = report()["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == app.as_str()).cloned())
            .unwrap_or_default();
        entry["port"].is_u64()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_text()));
    assert_eq!(
        entry["fixed_port_refusal"]["en"], "This test service only answers at its name.",
        "{entry}"
    );
    let port = entry["port"].as_u64().unwrap();
    for (lang, why) in [
        ("fr", "Ce service test ne répond qu&#39;à son nom."),
        ("en", "This test service only answers at its name."),
    ] {
        let (code, body) = curl(&[
            "-H",
            &format!("Accept-Language: {lang}"),
            &format!("http://127.0.0.1:{port}/url.txt"),
        ]);
        assert_eq!(code, "421", "{body}");
        assert!(body.contains(why), "{lang}: {body}");
        assert!(
            body.contains(&format!("https://{app}-biblio.local/")),
            "{body}"
        );
    }
    // By its name it works.
    let host_header = format!("Host: {app}-biblio.local");
    let (code, body) = curl(&["-H", &host_header, &agent.http_url("/url.txt")]);
    assert_eq!(code, "200", "{body}");
}
