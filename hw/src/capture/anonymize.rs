//! `--anonymize`: serial numbers and MAC addresses replaced, the same way in every file.
//!
//! The values come from what the probe found (the machine's DMI serial, each disk's serial,
//! each NIC's address) and from the tools' own outputs it read (`Serial Number:` lines of
//! dmidecode and hdparm, smartctl's `serial_number`, an NVMe disk's Identify Controller
//! data). Each value is replaced
//! everywhere it appears, in files, command outputs and `probe.json`, by one stand-in:
//! `ANON0001`-like text of the same length for a serial (a SCSI VPD page and hdparm's
//! layout count bytes), and for a MAC address the same maker prefix (the first three bytes
//! say who made the card) with `00:00:NN` after it.
//!
//! Limits: only those values. Other identifiers a disk reports (its WWN, an NVMe EUI-64 or
//! NGUID, partition table UUIDs in udev's database) and the mount points in
//! `/proc/self/mountinfo` are kept. A serial shorter than 4 characters is not replaced (it
//! would match unrelated text); the capture's self-check reports any replacement that
//! changed what the probe sees.

use serde_json::Value;

use crate::host::{Access, CommandOutcome};
use crate::probe::Probe;

/// Placeholder texts firmware puts where a serial would be.
const NOT_SERIALS: [&str; 8] = [
    "not specified",
    "unknown",
    "to be filled by o.e.m.",
    "default string",
    "none",
    "system serial number",
    "n/a",
    "0123456789",
];

#[derive(Debug, Clone, Default)]
pub struct Anonymizer {
    /// (original, stand-in), longest original first so that no value is cut by a shorter one.
    replacements: Vec<(String, String)>,
}

impl Anonymizer {
    pub fn new(probe: &Probe, accesses: &[Access]) -> Self {
        let mut serials: Vec<String> = Vec::new();
        serials.extend(probe.machine.serial.clone());
        serials.extend(probe.disks.iter().filter_map(|d| d.identity.serial.clone()));
        for access in accesses {
            match access {
                Access::Command {
                    argv,
                    outcome: CommandOutcome::Ran { stdout, .. },
                } => serials.extend(serials_in_output(&argv[0], stdout)),
                Access::NvmeIdentify {
                    outcome: Ok(data), ..
                } => serials.extend(crate::nvme::Controller::parse(data).map(|c| c.serial)),
                _ => {}
            }
        }
        let mut anonymizer = Self::default();
        let mut count = 0;
        for serial in serials.iter().map(|s| s.trim()) {
            if serial.chars().count() < 4
                || NOT_SERIALS.contains(&serial.to_ascii_lowercase().as_str())
                || serial.chars().all(|c| c == '0' || c == ' ')
                || anonymizer
                    .replacements
                    .iter()
                    .any(|(original, _)| original == serial)
            {
                continue;
            }
            count += 1;
            anonymizer
                .replacements
                .push((serial.to_string(), stand_in_serial(serial.len(), count)));
        }
        let macs: Vec<&str> = probe.nics.iter().filter_map(|n| n.mac.as_deref()).collect();
        for (i, mac) in macs
            .iter()
            .filter(|m| **m != "00:00:00:00:00:00")
            .enumerate()
        {
            let Some(prefix) = mac.get(..8) else { continue };
            let stand_in = format!("{prefix}:00:00:{:02x}", i + 1);
            anonymizer
                .replacements
                .push((mac.to_ascii_lowercase(), stand_in.clone()));
            anonymizer
                .replacements
                .push((mac.to_ascii_uppercase(), stand_in.to_ascii_uppercase()));
        }
        anonymizer
            .replacements
            .sort_by_key(|(original, _)| std::cmp::Reverse(original.len()));
        anonymizer
    }

    /// (original, stand-in) pairs, for the report and tests.
    pub fn replacements(&self) -> &[(String, String)] {
        &self.replacements
    }

    /// Replaces every original in one pass (a stand-in is never replaced again).
    pub fn apply_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            match self
                .replacements
                .iter()
                .find(|(original, _)| rest.starts_with(original.as_bytes()))
            {
                Some((original, stand_in)) => {
                    out.extend_from_slice(stand_in.as_bytes());
                    i += original.len();
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        out
    }

    pub fn apply(&self, text: &str) -> String {
        String::from_utf8(self.apply_bytes(text.as_bytes())).unwrap_or_else(|_| text.to_string())
    }
}

/// A stand-in as long as the original: `ANON` then the number, zero-padded.
fn stand_in_serial(len: usize, n: usize) -> String {
    let digits = n.to_string();
    if len >= 4 + digits.len() {
        format!("ANON{}{digits}", "0".repeat(len - 4 - digits.len()))
    } else {
        format!("{n:0len$}")
    }
}

fn serials_in_output(program: &str, stdout: &str) -> Vec<String> {
    match program {
        "dmidecode" | "hdparm" => stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Serial Number:"))
            .map(|s| s.trim().to_string())
            .collect(),
        "smartctl" => {
            let json: Value = serde_json::from_str(stdout).unwrap_or(Value::Null);
            json["serial_number"]
                .as_str()
                .map(|s| s.trim().to_string())
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_keep_the_length() {
        assert_eq!(stand_in_serial(8, 1), "ANON0001");
        assert_eq!(stand_in_serial(15, 12), "ANON00000000012");
        assert_eq!(stand_in_serial(4, 3), "0003");
        let swap = Anonymizer {
            replacements: vec![
                ("S1234".into(), "ANON1".into()),
                ("ANON1".into(), "ANON2".into()),
            ],
        };
        assert_eq!(
            swap.apply("a S1234 b ANON1"),
            "a ANON1 b ANON2",
            "one pass: a stand-in is not replaced again"
        );
    }

    #[test]
    fn serials_are_read_from_tool_outputs() {
        let dmi = "Memory Device\n\tSerial Number: 1A2B3C4D\n\tPart Number: X\n";
        assert_eq!(serials_in_output("dmidecode", dmi), ["1A2B3C4D"]);
        assert_eq!(
            serials_in_output("smartctl", r#"{"serial_number":"S3YJ "}"#),
            ["S3YJ"]
        );
    }
}
