//! Requests the box must refuse, sent for real over TCP to the agent's web entries (raw
//! bytes, since well-behaved clients cannot send them), with a real backend behind the proxy
//! that shows what it received:
//!
//! - two `Host` headers (the proxy routed by the first, the service saw both), a missing
//!   `Host`, userinfo or a space in `Host`: 400, nothing forwarded;
//! - `CONNECT` to a service: an answer (405), not a closed connection;
//! - a chunked body with a bad chunk size: 400, logged as the client's fault, not 502;
//! - the language switch with CR/LF or NUL in `back`: a redirect to a local page, not 500;
//! - a visitor's own `X-Real-IP`, `Forwarded`, `True-Client-IP`… never reach a service: the
//!   box sets what it saw (the TCP peer, the scheme, the Host) and removes the rest;
//! - DNS rebinding: a service's fixed port answers the box's names and addresses only; a
//!   page that made `attacker.example` resolve to the box gets 421, nothing forwarded;
//! - `POST /api/v1/install/restart` outside install mode: refused, the box does not restart
//!   (a `systemctl` first in the agent's `PATH` records any call, so nothing reboots here).

use panier_system_tests::{Agent, AgentOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A backend that reads a request (and its body, chunked or not), then answers 200 with
/// the request's head as its body; every head it answered is kept in the returned list.
fn echo_backend() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = kept.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                while let Some(head) = read_request(&mut reader) {
                    seen.lock().unwrap().push(head.clone());
                    let _ = write!(
                        writer,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{head}",
                        head.len()
                    );
                }
            });
        }
    });
    (port, seen)
}

/// One request's head, its body read and dropped; `None` when the connection ends or the
/// body is cut short.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = u64::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n as usize + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
        }
    } else if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
    {
        let mut body = vec![0; len.trim().parse().ok()?];
        reader.read_exact(&mut body).ok()?;
    }
    Some(head)
}

/// Sends raw bytes and returns everything the agent answers until it closes or goes quiet.
fn raw(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("(no answer)")
}

fn start_box(backend: u16) -> Agent {
    Agent::start_with(AgentOptions {
        config: Some(format!(
            "box_name = \"biblio\"\n[[extra_routes]]\nname = \"web\"\nupstream = \"127.0.0.1:{backend}\"\n"
        )),
        web_entry: true,
        ..Default::default()
    })
}

#[test]
fn malformed_host_headers_and_connect_are_refused_with_an_answer() {
    let (backend, seen) = echo_backend();
    let agent = start_box(backend);
    let port = agent.http_port;

    // The control: a well-formed request reaches the service.
    let ok = raw(
        port,
        "GET / HTTP/1.1\r\nHost: web-biblio.local\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&ok), "200", "{ok}");
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Two Host headers: routed by the first, the service would see a second virtual host.
    let two = raw(
        port,
        "GET / HTTP/1.1\r\nHost: web-biblio.local\r\nHost: admin.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&two), "400", "two Host headers: {two}");
    for (what, request) in [
        (
            "no Host",
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n".to_owned(),
        ),
        (
            "userinfo in Host",
            "GET / HTTP/1.1\r\nHost: staff@web-biblio.local\r\nConnection: close\r\n\r\n"
                .to_owned(),
        ),
        (
            "a space in Host",
            "GET / HTTP/1.1\r\nHost: web-biblio.local evil\r\nConnection: close\r\n\r\n"
                .to_owned(),
        ),
        (
            "an absolute target naming another host",
            "GET http://web-biblio.local/ HTTP/1.1\r\nHost: biblio.local\r\nConnection: close\r\n\r\n"
                .to_owned(),
        ),
    ] {
        let answer = raw(port, &request);
        assert_eq!(status_of(&answer), "400", "{what}: {answer}");
        assert!(
            answer.contains("Requête refusée"),
            "{what}: the page says why, in French by default: {answer}"
        );
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing refused reached the service: {:?}",
        seen.lock().unwrap()
    );

    // CONNECT to a service: an answer, not a connection closed in silence.
    let connect = raw(
        port,
        "CONNECT web-biblio.local:80 HTTP/1.1\r\nHost: web-biblio.local:80\r\nAccept-Language: en\r\n\r\n",
    );
    assert_eq!(status_of(&connect), "405", "CONNECT: {connect:?}");
    assert!(connect.contains("not a proxy server"), "{connect}");
    // The HTTPS entry refuses a second Host too (sent through openssl's client).
    let mut tls = Command::new("openssl")
        .args(["s_client", "-quiet", "-ign_eof", "-connect"])
        .arg(format!("127.0.0.1:{}", agent.port))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tls.stdin
        .take()
        .unwrap()
        .write_all(b"GET /admin HTTP/1.1\r\nHost: biblio.local\r\nHost: web-biblio.local\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = tls.wait_with_output().unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        status_of(&answer),
        "400",
        "HTTPS, two Host headers: {answer}"
    );
}

#[test]
fn client_address_headers_are_set_or_removed_by_the_proxy() {
    let (backend, seen) = echo_backend();
    let agent = start_box(backend);
    let spoof = "6.6.6.6";
    let answer = raw(
        agent.http_port,
        &format!(
            "GET / HTTP/1.1\r\nHost: web-biblio.local\r\nX-Real-IP: {spoof}\r\n\
             Forwarded: for={spoof};proto=https\r\nX-Forwarded-For: {spoof}\r\n\
             True-Client-IP: {spoof}\r\nX-Client-IP: {spoof}\r\nClient-IP: {spoof}\r\n\
             X-Cluster-Client-IP: {spoof}\r\nCF-Connecting-IP: {spoof}\r\n\
             X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\nFront-End-Https: on\r\n\
             X-Forwarded-Port: 443\r\nX-Forwarded-Host: admin.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status_of(&answer), "200", "{answer}");
    let head = seen.lock().unwrap().pop().unwrap().to_ascii_lowercase();
    assert!(
        !head.contains(spoof),
        "a spoofed address reached the service:\n{head}"
    );
    for (name, value) in [
        ("x-real-ip", "127.0.0.1"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "web-biblio.local"),
        (
            "forwarded",
            "for=127.0.0.1;proto=http;host=\"web-biblio.local\"",
        ),
    ] {
        let lines: Vec<&str> = head
            .lines()
            .filter(|l| l.starts_with(&format!("{name}:")))
            .collect();
        assert_eq!(lines, [format!("{name}: {value}")], "{name}:\n{head}");
    }
    for gone in [
        "x-forwarded-ssl",
        "front-end-https",
        "x-forwarded-port",
        "true-client-ip",
        "x-client-ip",
        "client-ip:",
        "cf-connecting-ip",
    ] {
        assert!(!head.contains(gone), "{gone} passed through:\n{head}");
    }
}

#[test]
fn fixed_ports_answer_only_the_boxs_names_and_addresses() {
    let (backend, seen) = echo_backend();
    let agent = start_box(backend);
    let port = agent.fixed_port("web");
    let get = |host: &str| {
        raw(
            port,
            &format!("GET /secret HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    for own in [
        format!("127.0.0.1:{port}"),
        "web-biblio.local".to_owned(),
        format!("biblio.local:{port}"),
        "[::1]".to_owned(),
    ] {
        let answer = get(&own);
        assert_eq!(status_of(&answer), "200", "{own}: {answer}");
    }
    let before = seen.lock().unwrap().len();
    // The rebinding page: its own name, now resolving to the box.
    let rebound = get(&format!("attacker.example:{port}"));
    assert_eq!(status_of(&rebound), "421", "{rebound}");
    assert!(rebound.contains("DNS rebinding"), "{rebound}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "nothing reached the service"
    );
}

#[test]
fn a_malformed_chunked_body_is_the_clients_fault() {
    let (backend, _seen) = echo_backend();
    let agent = start_box(backend);
    // A valid chunked upload passes.
    let good = raw(
        agent.http_port,
        "POST /upload HTTP/1.1\r\nHost: web-biblio.local\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(status_of(&good), "200", "{good}");
    // A chunk size that is not hexadecimal.
    let bad = raw(
        agent.http_port,
        "POST /upload HTTP/1.1\r\nHost: web-biblio.local\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nzz\r\nnope\r\n0\r\n\r\n",
    );
    assert_eq!(status_of(&bad), "400", "bad chunk size: {bad}");
    let log = agent.log_text();
    assert!(
        log.contains("not the service's fault"),
        "logged as the client's fault:\n{log}"
    );
    assert!(
        !log.contains("cannot reach"),
        "not logged as the service's fault:\n{log}"
    );
}

#[test]
fn the_language_switch_only_goes_back_to_local_pages() {
    let agent = Agent::start();
    for back in ["/admin%0d%0aSet-Cookie:%20x=1", "/admin%00", "/admin%0a"] {
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "-o", "/dev/null"])
            .arg(agent.url(&format!("/admin/lang?to=en&back={back}")))
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        assert!(
            head.starts_with("http/1.1 303"),
            "back={back}: a redirect, not an error:\n{head}"
        );
        assert!(head.contains("\r\nlocation: /admin\r\n"), "{head}");
        assert!(!head.contains("x=1"), "no header smuggled: {head}");
    }
    // A good local path still goes back there.
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(agent.url("/admin/lang?to=en&back=/admin/login"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .to_ascii_lowercase()
            .contains("location: /admin/login\r\n")
    );
}

#[test]
fn install_restart_is_refused_outside_install_mode() {
    // A `systemctl` that records its arguments, first in the agent's PATH: a call would be
    // a reboot of the box (here, of nothing).
    let bin = tempfile::tempdir().unwrap();
    let record = bin.path().join("called");
    let fake = bin.path().join("systemctl");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", record.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let agent = Agent::start_with(AgentOptions {
        env: vec![("PATH".into(), path)],
        ..Default::default()
    });
    // The local socket is root's: the strongest caller there is.
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "--unix-socket"])
        .arg(&agent.socket)
        .arg("http://box/api/v1/install/restart")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !record.exists(),
        "the box was told to reboot: {:?}",
        std::fs::read_to_string(&record)
    );
    assert!(text.ends_with("409"), "refused: {text}");
    assert!(text.contains("install_not_offered"), "{text}");
}
