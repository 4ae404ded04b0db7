//! Local names with a real mDNS client on the other side of a wire: the agent runs in a "box"
//! network namespace announcing on its veth, and a "client" namespace runs Debian's
//! avahi-daemon (see `panier_system_tests::mdns`). From there, `avahi-resolve` finds
//! `<box>.local` and `<service>-<box>.local`, the system resolver (nss-mdns) leads curl to the
//! proxy by name over HTTP and HTTPS, and a name another device already announces makes the
//! agent take a suffix that the admin sees in the access report and on the Access page.

use panier_system_tests::mdns::Avahi;
use panier_system_tests::netns::Namespaces;
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::net::IpAddr;
use std::process::{Child, Command};
use std::time::Duration;

const BOX_ADDR: &str = "10.203.77.1";
const CLIENT_ADDR: &str = "10.203.77.2";
/// The address the other device gives for the name it holds (nothing answers there).
const OTHER_ADDR: &str = "10.203.77.9";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn names_resolve_from_another_namespace_and_a_taken_name_gets_a_suffix() {
    let ns = Namespaces::create(
        &format!("pmdns{}", std::process::id() % 100_000),
        &["box", "cli"],
    )
    .unwrap();
    ns.link(
        "box",
        "box0",
        &format!("{BOX_ADDR}/24"),
        "cli",
        "cli0",
        &format!("{CLIENT_ADDR}/24"),
    )
    .unwrap();
    let (box_ns, cli_ns) = (ns.name("box"), ns.name("cli"));

    // A web page inside the box's namespace, on its loopback.
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello by name\n").unwrap();
    let _httpd = Killed(
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{box_ns}"))
            .args(["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8081", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap(),
    );

    // The client, and another device there that already announces `taken-biblio.local`.
    let mut avahi =
        Avahi::start(&cli_ns, "cli0").expect("avahi-daemon starts in the client namespace");
    avahi
        .publish_address("taken-biblio.local", OTHER_ADDR)
        .unwrap();

    let config = "box_name = \"biblio\"\n\
        [[extra_routes]]\nname = \"web\"\ntitle = \"Le site\"\nupstream = \"127.0.0.1:8081\"\n\
        [[extra_routes]]\nname = \"taken\"\nupstream = \"127.0.0.1:8081\"\n";
    let agent = Agent::start_with(AgentOptions {
        config: Some(config.into()),
        web_entry: true,
        netns: Some(box_ns.clone()),
        listen: Some("0.0.0.0:443".into()),
        mdns_interface: Some("box0".into()),
        ..Default::default()
    });
    let box_ip: IpAddr = BOX_ADDR.parse().unwrap();
    let resolves = |name: &str| {
        wait_until(
            Duration::from_secs(20),
            &format!("{name} to resolve to the box"),
            || avahi.resolve(name) == Some(box_ip),
        )
        .unwrap_or_else(|e| panic!("{e}\nagent: {}\navahi: {}", agent.log_text(), avahi.log()))
    };

    // The box and a service, by avahi-resolve.
    resolves("biblio.local");
    resolves("web-biblio.local");

    // The taken name: the agent announces `taken-biblio-2.local`, and says so.
    wait_until(
        Duration::from_secs(20),
        "the rename to show in the access report",
        || {
            agent.access_report()["renames"]
                .as_array()
                .is_some_and(|r| {
                    r.iter().any(|r| {
                        r["wanted"] == "taken-biblio.local"
                            && r["announced"] == "taken-biblio-2.local"
                    })
                })
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", agent.access_report(), agent.log_text()));
    let report = agent.access_report();
    let taken = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "taken")
        .unwrap()
        .clone();
    assert_eq!(taken["host"], "taken-biblio-2.local", "{report}");
    resolves("taken-biblio-2.local");
    assert_eq!(
        avahi.resolve("taken-biblio.local"),
        Some(OTHER_ADDR.parse().unwrap()),
        "the other device keeps its name"
    );

    // DNS-SD: the portal and the services are browsable as _http._tcp.
    let browse = avahi.tool("avahi-browse", &["-rpt", "_http._tcp"]).unwrap();
    let browse = String::from_utf8_lossy(&browse.stdout);
    let box_record = format!(";biblio.local;{BOX_ADDR};80;");
    let web_record = format!(";web-biblio.local;{BOX_ADDR};80;");
    assert!(
        browse.contains(r"Panier\032biblio")
            && browse.contains(&box_record)
            && browse.contains(&web_record),
        "{browse}"
    );

    // HTTP and HTTPS by name through the client's system resolver (nss-mdns → avahi).
    let curl = |args: &[&str]| {
        let mut full = vec!["curl", "-sS", "--max-time", "10"];
        full.extend_from_slice(args);
        let out = avahi.exec(&full).unwrap();
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&["http://web-biblio.local/"]).trim(), "hello by name");
    assert_eq!(
        curl(&["http://taken-biblio-2.local/"]).trim(),
        "hello by name"
    );
    let ca = agent.ca_pem_path();
    assert_eq!(
        curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "https://web-biblio.local/"
        ])
        .trim(),
        "hello by name"
    );
    let portal = curl(&["-H", "Accept-Language: fr", "http://biblio.local/"]);
    assert!(
        portal.contains("http://web-biblio.local/")
            && portal.contains("http://taken-biblio-2.local/"),
        "{portal}"
    );

    // The admin sees the conflict on the Access page (over HTTPS, by name, from the client).
    let jar = www.path().join("cookies");
    let (ca, jar) = (ca.to_str().unwrap(), jar.to_str().unwrap());
    let setup = serde_json::json!({"code": agent.setup_code(), "box_name": "biblio", "language": "fr", "username": "camille", "password": "un mot de passe solide"});
    let json = "content-type: application/json";
    curl(&[
        "--cacert",
        ca,
        "-H",
        json,
        "--data",
        &setup.to_string(),
        "https://biblio.local/api/v1/setup",
    ]);
    curl(&[
        "--cacert",
        ca,
        "-H",
        json,
        "-c",
        jar,
        "--data",
        r#"{"username":"camille","password":"un mot de passe solide"}"#,
        "https://biblio.local/api/v1/login",
    ]);
    let page = curl(&[
        "--cacert",
        ca,
        "-b",
        jar,
        "https://biblio.local/admin/access",
    ]);
    assert!(
        page.contains("Un autre appareil du réseau utilise déjà taken-biblio.local")
            && page.contains("taken-biblio-2.local"),
        "{page}"
    );
}
