//! The latest blocked attempts, read back from the kernel log lines the ruleset writes (prefix
//! `panier-blocked: `, rate-limited) through the journal.
//!
//! Limits: the kernel only logs from the host's network namespace unless
//! `net.netfilter.nf_log_all_netns` is set; without `journalctl` the list is empty.

use serde::Serialize;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BlockedAttempt {
    /// Unix time in seconds.
    pub at: i64,
    pub source: String,
    pub destination: String,
    /// `TCP`, `UDP`, `ICMP`…
    pub protocol: String,
    pub port: Option<u16>,
    pub interface: String,
}

/// One kernel log line (`panier-blocked: IN=eth0 OUT= … SRC=… DST=… PROTO=TCP … DPT=22 …`).
pub fn parse_line(at: i64, line: &str) -> Option<BlockedAttempt> {
    let rest = line.split_once(super::ruleset::LOG_PREFIX.trim_end())?.1;
    let field = |name: &str| {
        rest.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    };
    Some(BlockedAttempt {
        at,
        source: field("SRC")?,
        destination: field("DST").unwrap_or_default(),
        protocol: field("PROTO").unwrap_or_default(),
        port: field("DPT").and_then(|p| p.parse().ok()),
        interface: field("IN").unwrap_or_default(),
    })
}

/// The latest `limit` attempts, newest first.
pub fn latest(limit: usize) -> Vec<BlockedAttempt> {
    let grep = super::ruleset::LOG_PREFIX.trim_end();
    let out = Command::new("journalctl")
        .args([
            "-k",
            "--no-pager",
            "-o",
            "json",
            "-n",
            &limit.to_string(),
            "-g",
            grep,
        ])
        .output();
    let Ok(out) = out else { return Vec::new() };
    let mut list: Vec<BlockedAttempt> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let at = v["__REALTIME_TIMESTAMP"]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0)
                / 1_000_000;
            parse_line(at, v["MESSAGE"].as_str()?)
        })
        .collect();
    list.reverse();
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lines_are_parsed() {
        let line = "panier-blocked: IN=veth-box OUT= MAC=aa:bb SRC=10.203.2.2 DST=10.203.1.1 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=8443 WINDOW=64240 RES=0x00 SYN URGP=0";
        let b = parse_line(7, line).unwrap();
        assert_eq!(
            (
                b.source.as_str(),
                b.protocol.as_str(),
                b.port,
                b.interface.as_str()
            ),
            ("10.203.2.2", "TCP", Some(8443), "veth-box")
        );
        assert!(parse_line(7, "something else").is_none());
    }
}
