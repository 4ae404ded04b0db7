//! Readings of the machine for the dashboard and `panier status`: uptime, load, memory,
//! data-disk usage, CPU temperature and the LAN addresses.
//!
//! Every reading is optional: a missing `/proc` file or sensor gives `None`, never an error,
//! because a dashboard with one blank figure is better than no dashboard.

use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readings {
    pub uptime_secs: Option<u64>,
    /// 1, 5 and 15 minute load averages.
    pub load: Option<[f64; 3]>,
    pub memory_total_bytes: Option<u64>,
    pub memory_available_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    pub disk_free_bytes: Option<u64>,
    /// Highest CPU temperature reported, in degrees Celsius.
    pub temperature_celsius: Option<f64>,
    /// IPv4 and IPv6 addresses of the LAN interfaces.
    pub addresses: Vec<String>,
}

pub fn read(data_dir: &Path) -> Readings {
    let (memory_total_bytes, memory_available_bytes) = memory();
    let (disk_total_bytes, disk_free_bytes) = disk(data_dir);
    Readings {
        uptime_secs: uptime(),
        load: load(),
        memory_total_bytes,
        memory_available_bytes,
        disk_total_bytes,
        disk_free_bytes,
        temperature_celsius: temperature(Path::new("/sys/class")),
        addresses: lan_addresses(),
    }
}

fn uptime() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .map(|s| s as u64)
}

fn load() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

fn memory() -> (Option<u64>, Option<u64>) {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return (None, None);
    };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

fn disk(path: &Path) -> (Option<u64>, Option<u64>) {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => {
            let frag = s.fragment_size();
            (Some(s.blocks() * frag), Some(s.blocks_available() * frag))
        }
        Err(_) => (None, None),
    }
}

/// The highest temperature among CPU-related thermal zones and hwmon sensors.
fn temperature(class: &Path) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut consider = |millis: Option<i64>| {
        if let Some(m) = millis.filter(|m| *m > 0 && *m < 150_000) {
            let c = m as f64 / 1000.0;
            best = Some(best.map_or(c, |b: f64| b.max(c)));
        }
    };
    let read_i64 = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
    };
    if let Ok(zones) = std::fs::read_dir(class.join("thermal")) {
        for zone in zones.flatten() {
            let kind = std::fs::read_to_string(zone.path().join("type")).unwrap_or_default();
            if kind.contains("x86_pkg_temp") || kind.contains("cpu") || kind.contains("acpitz") {
                consider(read_i64(&zone.path().join("temp")));
            }
        }
    }
    if let Ok(mons) = std::fs::read_dir(class.join("hwmon")) {
        for mon in mons.flatten() {
            let name = std::fs::read_to_string(mon.path().join("name")).unwrap_or_default();
            if matches!(name.trim(), "coretemp" | "k10temp" | "zenpower") {
                consider(read_i64(&mon.path().join("temp1_input")));
            }
        }
    }
    best
}

/// Addresses of interfaces that look like LAN ports: up, not loopback, not the container
/// engine's bridges and veths.
pub fn lan_addresses() -> Vec<String> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ifa in addrs {
        let name = ifa.interface_name.as_str();
        if name == "lo"
            || name.starts_with("docker")
            || name.starts_with("br-")
            || name.starts_with("veth")
            || name.starts_with("cni")
        {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            out.push(v4.ip().to_string());
        } else if let Some(v6) = addr.as_sockaddr_in6()
            && !v6.ip().is_loopback()
        {
            out.push(v6.ip().to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let r = read(Path::new("/"));
        assert!(r.uptime_secs.unwrap() > 0);
        assert!(r.memory_total_bytes.unwrap() >= r.memory_available_bytes.unwrap());
        assert!(r.disk_total_bytes.unwrap() > 0);
    }

    #[test]
    fn temperature_from_a_sysfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("thermal/thermal_zone0");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("type"), "x86_pkg_temp\n").unwrap();
        std::fs::write(zone.join("temp"), "47000\n").unwrap();
        let mon = dir.path().join("hwmon/hwmon1");
        std::fs::create_dir_all(&mon).unwrap();
        std::fs::write(mon.join("name"), "coretemp\n").unwrap();
        std::fs::write(mon.join("temp1_input"), "52500\n").unwrap();
        assert_eq!(temperature(dir.path()), Some(52.5));
        assert_eq!(temperature(&dir.path().join("absent")), None);
    }
}
