//! The relay: the box joins a small server the association runs, through WireGuard, so the
//! public reaches the services it opened — TLS still ends on the box, the relay only forwards
//! packets and never sees plaintext.
//!
//! The relay side is standard tools only: WireGuard (`wg-quick`) and an nftables DNAT of TCP
//! 80 and 443 to the box's tunnel address, with no source NAT, so the box and its services see
//! each visitor's own address. [`server_config`] writes those files for a Debian server (the
//! same binary, `panier relay server-config`).
//!
//! On the box, the loop ([`run`]) keeps the interface `panier0` in line with the store every
//! 10 s and at each change: the kernel's WireGuard when it has it, else `wireguard-go` on
//! `/dev/net/tun`; the key and the relay as its one peer (all addresses allowed in, since
//! visitors keep theirs; keepalive every 25 s so the building's NAT keeps the way open);
//! the tunnel address; and a routing rule sending every packet *from* that address back
//! through the tunnel (replies to visitors must not leave by the building's router). Each
//! round also knocks at the relay's tunnel address: that is traffic, so after a relay
//! restart WireGuard notices within seconds that nothing comes back and makes a new
//! handshake. The endpoint is set again at every round, so a new address of the relay's
//! name is followed. Leaving the relay removes the interface and the rule.
//!
//! Invariants: the box's private key is stored in the database (like the other secrets of
//! the box's state, it goes into backups) and reaches `wg` only through a pipe; the relay's
//! key never reaches the box. The proxy treats every connection to the tunnel address as
//! coming from outside (`proxy::OutsideAccess`).
//!
//! Limits: IPv4 in the tunnel; one relay; UDP only (a TCP fallback is not done yet).

use super::Reach;
use crate::admins::Actor;
use crate::store::{RelayRow, StoreError};
use base64::Engine;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::sync::watch;

/// The tunnel's interface on the box (the relay's is `panier`, from its file's name).
pub const INTERFACE: &str = "panier0";
/// The routing table holding the way back through the tunnel.
pub const ROUTE_TABLE: &str = "51820";
const RULE_PRIORITY: &str = "5200";
const PERIOD: Duration = Duration::from_secs(10);
pub const DEFAULT_BOX_ADDRESS: &str = "10.251.71.2/24";
pub const DEFAULT_RELAY_ADDRESS: &str = "10.251.71.1";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("{0:?} is not a relay endpoint (host:port, the port of its WireGuard)")]
    InvalidEndpoint(String),
    #[error("the relay's key must be a WireGuard public key (44 characters of base64)")]
    InvalidKey,
    #[error("{0:?} is not a tunnel address (IPv4, with its prefix for the box's)")]
    InvalidAddress(String),
    #[error("the box has not joined a relay")]
    NotJoined,
    #[error("{program} failed: {detail}")]
    Tool {
        program: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RelayError {
    pub fn key(&self) -> &'static str {
        match self {
            RelayError::InvalidEndpoint(_) => "relay_endpoint_invalid",
            RelayError::InvalidKey => "relay_key_invalid",
            RelayError::InvalidAddress(_) => "relay_address_invalid",
            RelayError::NotJoined => "relay_not_joined",
            RelayError::Tool { .. } => "relay_tool_failed",
            RelayError::Store(_) => "internal",
        }
    }
}

/// `panier relay join`: where the relay is and its key.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub endpoint: String,
    pub relay_key: String,
    /// The box's tunnel address with its prefix (default 10.251.71.2/24).
    pub box_address: Option<String>,
    /// The relay's tunnel address (default 10.251.71.1).
    pub relay_address: Option<String>,
}

/// The relay as the admin sees it.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct RelayView {
    pub endpoint: String,
    pub relay_public_key: String,
    pub box_public_key: String,
    pub box_address: String,
    pub relay_address: String,
    /// The tunnel's interface exists and is up.
    pub up: bool,
    /// The last WireGuard handshake with the relay (Unix seconds).
    pub latest_handshake: Option<i64>,
    /// The relay answered through the tunnel at the last round.
    pub relay_answers: bool,
    pub last_error: Option<String>,
}

fn tool(program: &'static str, args: &[&str], stdin: Option<&str>) -> Result<String, RelayError> {
    let failed = |detail: String| RelayError::Tool { program, detail };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!(
            "{} ({})",
            String::from_utf8_lossy(&out.stderr).trim(),
            args.join(" ")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn valid_key(key: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .is_ok_and(|k| k.len() == 32)
}

fn endpoint_port(endpoint: &str) -> Option<u16> {
    let (host, port) = endpoint.rsplit_once(':')?;
    (!host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c)))
    .then(|| port.parse().ok())
    .flatten()
}

/// `a.b.c.d/len` → (address, prefix).
fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let len: u8 = len.parse().ok()?;
    (len <= 30).then_some((ip.parse().ok()?, len))
}

impl Reach {
    /// Joins the relay at `req.endpoint`: a key pair is made for the box, the relay's public
    /// key recorded. The loop brings the tunnel up.
    pub fn join_relay(&self, actor: &Actor, req: JoinRequest) -> Result<RelayView, RelayError> {
        let endpoint = req.endpoint.trim().to_owned();
        if endpoint_port(&endpoint).is_none() {
            return Err(RelayError::InvalidEndpoint(endpoint));
        }
        let relay_key = req.relay_key.trim().to_owned();
        if !valid_key(&relay_key) {
            return Err(RelayError::InvalidKey);
        }
        let box_address = req
            .box_address
            .unwrap_or_else(|| DEFAULT_BOX_ADDRESS.into());
        if parse_cidr(&box_address).is_none() {
            return Err(RelayError::InvalidAddress(box_address));
        }
        let relay_address = req
            .relay_address
            .unwrap_or_else(|| DEFAULT_RELAY_ADDRESS.into());
        if relay_address.parse::<Ipv4Addr>().is_err() {
            return Err(RelayError::InvalidAddress(relay_address));
        }
        let private = tool("wg", &["genkey"], None)?;
        let public = tool("wg", &["pubkey"], Some(&private))?;
        let row = RelayRow {
            endpoint,
            relay_public_key: relay_key,
            box_private_key: private,
            box_public_key: public,
            box_address,
            relay_address,
            ports: "80 443".into(),
        };
        let audit = actor.audit_ok("relay_join", &row.endpoint);
        self.store().save_relay(Some(&row), &audit)?;
        self.bump_relay();
        Ok(view_of(&row))
    }

    pub fn leave_relay(&self, actor: &Actor) -> Result<(), RelayError> {
        let row = self.store().relay()?.ok_or(RelayError::NotJoined)?;
        self.store()
            .save_relay(None, &actor.audit_ok("relay_leave", &row.endpoint))?;
        self.bump_relay();
        Ok(())
    }

    /// The relay and the tunnel's state.
    pub fn relay_view(&self) -> Result<RelayView, RelayError> {
        let row = self.store().relay()?.ok_or(RelayError::NotJoined)?;
        let mut view = view_of(&row);
        let seen = self.relay_seen();
        view.up = seen.up;
        view.latest_handshake = seen.latest_handshake;
        view.relay_answers = seen.relay_answers;
        view.last_error = seen.last_error;
        Ok(view)
    }

    /// The files for the relay's Debian server.
    pub fn relay_server_config(&self, public_interface: &str) -> Result<String, RelayError> {
        let row = self.store().relay()?.ok_or(RelayError::NotJoined)?;
        let name = self
            .store()
            .box_settings()?
            .name
            .map(|n| n.to_string())
            .unwrap_or_else(|| "panier".into());
        Ok(server_config(&row, &name, public_interface))
    }

    /// The box's tunnel address, if it joined a relay: connections to it come from outside.
    pub fn relay_ip(&self) -> Option<IpAddr> {
        self.relay_seen().box_ip
    }
}

/// What the loop saw at its last round, and the tunnel address (for the proxy, per request).
#[derive(Debug, Clone, Default)]
pub(super) struct Seen {
    pub box_ip: Option<IpAddr>,
    pub up: bool,
    pub latest_handshake: Option<i64>,
    pub relay_answers: bool,
    pub last_error: Option<String>,
}

fn view_of(row: &RelayRow) -> RelayView {
    RelayView {
        endpoint: row.endpoint.clone(),
        relay_public_key: row.relay_public_key.clone(),
        box_public_key: row.box_public_key.clone(),
        box_address: row.box_address.clone(),
        relay_address: row.relay_address.clone(),
        ..Default::default()
    }
}

/// The relay's files for a Debian server, with the steps, each file after a `# ==> path`
/// line. A pure function of the relay's record.
pub fn server_config(row: &RelayRow, box_name: &str, public_interface: &str) -> String {
    let port = endpoint_port(&row.endpoint).unwrap_or(51820);
    let (box_ip, prefix) = parse_cidr(&row.box_address)
        .map(|(ip, p)| (ip.to_string(), p))
        .unwrap_or_else(|| (row.box_address.clone(), 24));
    let ports = row.ports.split_whitespace().collect::<Vec<_>>().join(", ");
    format!(
        "# Relay of the Panier box \"{box_name}\": the files for a Debian server, and the steps.\n\
         # The relay forwards TCP {ports} to the box through WireGuard, without source NAT (the box\n\
         # sees the visitors' addresses); TLS ends on the box.\n\
         #\n\
         # As root on the server:\n\
         #  1. apt install wireguard-tools nftables\n\
         #  2. umask 077; wg genkey > /etc/wireguard/panier.key\n\
         #     (its public key, `wg pubkey < /etc/wireguard/panier.key`, is the one given to\n\
         #     `panier relay join --relay-key` on the box)\n\
         #  3. write each file below (the line `# ==> PATH` names it)\n\
         #  4. sysctl --system\n\
         #     systemctl enable --now wg-quick@panier\n\
         #     nft -f /etc/panier-relay.nft, and add the line include \"/etc/panier-relay.nft\"\n\
         #     to /etc/nftables.conf; systemctl enable nftables\n\
         #  5. open UDP {port} and TCP {ports} in the hosting provider's firewall, and point the\n\
         #     public names (A records) at this server\n\
         #  6. check: `wg show panier` lists the box with a recent handshake\n\
         # ==> /etc/wireguard/panier.conf\n\
         [Interface]\n\
         Address = {relay}/{prefix}\n\
         ListenPort = {port}\n\
         PostUp = wg set %i private-key /etc/wireguard/panier.key\n\
         \n\
         [Peer]\n\
         # the box {box_name}\n\
         PublicKey = {box_key}\n\
         AllowedIPs = {box_ip}/32\n\
         # ==> /etc/sysctl.d/90-panier-relay.conf\n\
         net.ipv4.ip_forward = 1\n\
         # ==> /etc/panier-relay.nft\n\
         table inet panier_relay\n\
         delete table inet panier_relay\n\
         table inet panier_relay {{\n\
         \tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         \t\tiifname \"{public_interface}\" tcp dport {{ {ports} }} dnat ip to {box_ip} comment \"visitors to the box\"\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tct state established,related accept\n\
         \t\tiifname \"{public_interface}\" oifname \"panier\" ip daddr {box_ip} tcp dport {{ {ports} }} accept comment \"no source NAT: the box sees the visitor\"\n\
         \t\toifname \"panier\" drop comment \"nothing else reaches the box\"\n\
         \t}}\n\
         }}\n",
        relay = row.relay_address,
        box_key = row.box_public_key,
    )
}

/// Brings the tunnel in line with `row` (or removes it). Blocking: it runs `ip`, `wg`,
/// `wireguard-go`.
fn reconcile(row: Option<&RelayRow>) -> Result<(), RelayError> {
    let exists = tool("ip", &["link", "show", INTERFACE], None).is_ok();
    let Some(row) = row else {
        if exists {
            tool("ip", &["link", "del", INTERFACE], None)?;
            // The rule of that relay's address.
            while tool("ip", &["rule", "del", "lookup", ROUTE_TABLE], None).is_ok() {}
        }
        return Ok(());
    };
    if !exists && tool("ip", &["link", "add", INTERFACE, "type", "wireguard"], None).is_err() {
        // No WireGuard in the kernel: the userspace implementation on /dev/net/tun.
        tool("wireguard-go", &[INTERFACE], None)?;
    }
    let peers = tool("wg", &["show", INTERFACE, "peers"], None)?;
    for old in peers.lines().filter(|p| *p != row.relay_public_key) {
        tool("wg", &["set", INTERFACE, "peer", old, "remove"], None)?;
    }
    tool(
        "wg",
        &[
            "set",
            INTERFACE,
            "private-key",
            "/dev/stdin",
            "peer",
            &row.relay_public_key,
            "endpoint",
            &row.endpoint,
            "allowed-ips",
            "0.0.0.0/0",
            "persistent-keepalive",
            "25",
        ],
        Some(&row.box_private_key),
    )?;
    tool(
        "ip",
        &["address", "replace", &row.box_address, "dev", INTERFACE],
        None,
    )?;
    tool("ip", &["link", "set", INTERFACE, "up"], None)?;
    let ip = row.box_address.split('/').next().unwrap_or_default();
    let rules = tool("ip", &["rule", "show", "lookup", ROUTE_TABLE], None)?;
    if !rules.contains(&format!("from {ip} ")) {
        while tool("ip", &["rule", "del", "lookup", ROUTE_TABLE], None).is_ok() {}
        tool(
            "ip",
            &[
                "rule",
                "add",
                "from",
                ip,
                "lookup",
                ROUTE_TABLE,
                "priority",
                RULE_PRIORITY,
            ],
            None,
        )?;
    }
    tool(
        "ip",
        &[
            "route",
            "replace",
            "default",
            "dev",
            INTERFACE,
            "table",
            ROUTE_TABLE,
        ],
        None,
    )?;
    Ok(())
}

fn latest_handshake(relay_key: &str) -> Option<i64> {
    let out = tool("wg", &["show", INTERFACE, "latest-handshakes"], None).ok()?;
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(k, _)| *k == relay_key)
        .and_then(|(_, t)| t.trim().parse().ok())
        .filter(|t| *t > 0)
}

/// Knocks at the relay's tunnel address (any answer, even a refusal, came back through the
/// tunnel).
async fn knock(relay: &str) -> bool {
    let Ok(ip) = relay.parse::<Ipv4Addr>() else {
        return false;
    };
    let attempt = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect((ip, 9)),
    )
    .await;
    match attempt {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Err(_) => false,
    }
}

/// The tunnel's loop, until `stop`.
pub async fn run(reach: Reach, mut stop: watch::Receiver<bool>) {
    let mut changes = reach.relay_changes();
    loop {
        let row = reach.store().relay().unwrap_or_else(|e| {
            log::error!("{e}");
            None
        });
        let wanted = row.clone();
        let result = tokio::task::spawn_blocking(move || reconcile(wanted.as_ref()))
            .await
            .unwrap_or_else(|e| {
                Err(RelayError::Tool {
                    program: "ip",
                    detail: e.to_string(),
                })
            });
        let mut seen = Seen {
            box_ip: row
                .as_ref()
                .and_then(|r| parse_cidr(&r.box_address))
                .map(|(ip, _)| IpAddr::V4(ip)),
            ..Default::default()
        };
        if let Some(row) = &row {
            match result {
                Ok(()) => {
                    seen.up = true;
                    seen.relay_answers = knock(&row.relay_address).await;
                    let key = row.relay_public_key.clone();
                    seen.latest_handshake =
                        tokio::task::spawn_blocking(move || latest_handshake(&key))
                            .await
                            .ok()
                            .flatten();
                }
                Err(e) => {
                    log::error!("the relay's tunnel: {e}");
                    seen.last_error = Some(e.to_string());
                }
            }
        } else if let Err(e) = result {
            log::error!("removing the relay's tunnel: {e}");
        }
        reach.set_relay_seen(seen);
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = changes.changed() => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_files_dnat_the_web_ports_to_the_box_without_source_nat() {
        let row = RelayRow {
            endpoint: "relais.example.org:51820".into(),
            relay_public_key: "R".repeat(43) + "=",
            box_private_key: "secret".into(),
            box_public_key: "B".repeat(43) + "=",
            box_address: "10.251.71.2/24".into(),
            relay_address: "10.251.71.1".into(),
            ports: "80 443".into(),
        };
        let text = server_config(&row, "biblio", "eth0");
        assert!(text.contains("Address = 10.251.71.1/24\nListenPort = 51820\n"));
        assert!(text.contains(&format!(
            "PublicKey = {}\nAllowedIPs = 10.251.71.2/32\n",
            row.box_public_key
        )));
        assert!(text.contains("iifname \"eth0\" tcp dport { 80, 443 } dnat ip to 10.251.71.2"));
        assert!(!text.contains("masquerade") && !text.contains("snat"));
        assert!(
            !text.contains("secret"),
            "the box's private key stays on the box"
        );
        assert_eq!(text.matches("\n# ==> /etc/").count(), 3);
    }

    #[test]
    fn endpoints_keys_and_addresses_are_checked() {
        assert_eq!(endpoint_port("relais.example.org:51820"), Some(51820));
        assert_eq!(endpoint_port("203.0.113.5:443"), Some(443));
        assert_eq!(endpoint_port("relais.example.org"), None);
        assert_eq!(endpoint_port("a;b:1"), None);
        assert!(valid_key(&("A".repeat(43) + "=")));
        assert!(!valid_key("short"));
        assert_eq!(
            parse_cidr("10.251.71.2/24"),
            Some(("10.251.71.2".parse().unwrap(), 24))
        );
        assert_eq!(parse_cidr("10.251.71.2"), None);
    }
}
