//! Network interfaces, CPU temperature and battery, all from sysfs.
//!
//! NICs: physical interfaces only (those with a `device` link); wireless when a `wireless`
//! or `phy80211` entry exists. Temperature: the `coretemp`/`k10temp`/`zenpower` hwmon
//! package sensor, else the `x86_pkg_temp` thermal zone. Battery: the first
//! `power_supply` of type `Battery`.
//! Limits: link speed is only meaningful with carrier; the kernel reports -1 otherwise,
//! which we turn into `None`.

use serde::{Deserialize, Serialize};

use crate::host::Host;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Nic {
    pub name: String,
    pub driver: Option<String>,
    pub mac: Option<String>,
    pub wired: bool,
    pub carrier: Option<bool>,
    pub speed_mbps: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Battery {
    pub name: String,
    pub capacity_pct: Option<u8>,
    /// Full charge now versus design, in percent.
    pub health_pct: Option<u8>,
    pub status: Option<String>,
}

pub fn nics(host: &Host) -> Vec<Nic> {
    host.list("/sys/class/net")
        .into_iter()
        .filter(|name| host.exists(&format!("/sys/class/net/{name}/device")))
        .map(|name| {
            let sys = format!("/sys/class/net/{name}");
            let wired = !host.exists(&format!("{sys}/wireless"))
                && !host.exists(&format!("{sys}/phy80211"));
            let carrier = host.attr(&format!("{sys}/carrier")).map(|c| c == "1");
            let speed_mbps = host
                .attr(&format!("{sys}/speed"))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s > 0 && carrier == Some(true))
                .map(|s| s as u32);
            Nic {
                driver: host.link_name(&format!("{sys}/device/driver")),
                mac: host.attr(&format!("{sys}/address")),
                name,
                wired,
                carrier,
                speed_mbps,
            }
        })
        .collect()
}

/// CPU package temperature in °C.
pub fn cpu_temperature(host: &Host) -> Option<f32> {
    for hwmon in host.list("/sys/class/hwmon") {
        let dir = format!("/sys/class/hwmon/{hwmon}");
        let name = host.attr(&format!("{dir}/name")).unwrap_or_default();
        if ["coretemp", "k10temp", "zenpower"].contains(&name.as_str())
            && let Some(milli) = host.attr_u64(&format!("{dir}/temp1_input"))
        {
            return Some(milli as f32 / 1000.0);
        }
    }
    let zones = host.list("/sys/class/thermal");
    let zone_temp = |wanted: Option<&str>| {
        zones
            .iter()
            .filter(|z| z.starts_with("thermal_zone"))
            .find_map(|z| {
                let dir = format!("/sys/class/thermal/{z}");
                let kind = host.attr(&format!("{dir}/type")).unwrap_or_default();
                if wanted.is_some_and(|w| w != kind) {
                    return None;
                }
                host.attr(&format!("{dir}/temp"))?
                    .parse::<i64>()
                    .ok()
                    .filter(|t| *t > 0)
                    .map(|t| t as f32 / 1000.0)
            })
    };
    zone_temp(Some("x86_pkg_temp")).or_else(|| zone_temp(None))
}

pub fn battery(host: &Host) -> Option<Battery> {
    host.list("/sys/class/power_supply")
        .into_iter()
        .find_map(|name| {
            let dir = format!("/sys/class/power_supply/{name}");
            (host.attr(&format!("{dir}/type")).as_deref() == Some("Battery")).then(|| {
                let full = host
                    .attr_u64(&format!("{dir}/energy_full"))
                    .or(host.attr_u64(&format!("{dir}/charge_full")));
                let design = host
                    .attr_u64(&format!("{dir}/energy_full_design"))
                    .or(host.attr_u64(&format!("{dir}/charge_full_design")));
                Battery {
                    capacity_pct: host
                        .attr_u64(&format!("{dir}/capacity"))
                        .map(|c| c.min(100) as u8),
                    health_pct: match (full, design) {
                        (Some(f), Some(d)) if d > 0 => Some((f * 100 / d).min(100) as u8),
                        _ => None,
                    },
                    status: host.attr(&format!("{dir}/status")),
                    name,
                }
            })
        })
}
