//! The partition tables of an install: the source's GPT read with `sfdisk --json` and checked
//! to be a Panier layout, the target's planned from it, written with an `sfdisk` script and
//! read back.
//!
//! The Panier layout (`image/board/x86_64/genimage.cfg`): partitions 1 to 5 named
//! `bios-boot`, `panier-efi`, `panier-system-a`, `panier-system-b`, `panier-data`, with their
//! GPT types, in disk order, both system slots of one size, nothing before 1 MiB.
//!
//! Invariants of [`plan`]: partitions 1 to 4 keep the source's byte offsets, sizes, types and
//! names (GRUB's MBR code and core image hold absolute sector numbers of partition 1, so
//! the offsets must not move), partition 5 starts where the source's does and is 16 MiB (the
//! installed box's first boot grows it to the end of its disk and formats it); the disk and
//! every partition get new random UUIDs, because the kernel command line finds the root by
//! `PARTUUID` and the stick may stay plugged in next to the installed disk.
//! Limits: offsets are kept in bytes; on a disk with 4096-byte logical sectors the table is
//! right and UEFI boots, but legacy BIOS boot is not expected to (GRUB's pointers count
//! 512-byte sectors).

use std::path::Path;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

pub const NAMES: [&str; 5] = [
    "bios-boot",
    "panier-efi",
    "panier-system-a",
    "panier-system-b",
    "panier-data",
];
const TYPES: [&str; 5] = [
    "21686148-6449-6E6F-744E-656564454649",
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
    "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
];
const MIB: u64 = 1 << 20;
/// The data partition as the image makes it: the installed box grows it at first boot.
pub const DATA_BYTES: u64 = 16 * MIB;
/// Room kept free at the end of the disk: the backup GPT (33 sectors) within the last MiB.
pub const TAIL_BYTES: u64 = MIB;

/// One partition, in bytes (sfdisk counts sectors; the plan converts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub number: u32,
    pub name: String,
    pub start_bytes: u64,
    pub size_bytes: u64,
    pub type_uuid: String,
    pub uuid: String,
}

impl Partition {
    pub fn end_bytes(&self) -> u64 {
        self.start_bytes + self.size_bytes
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub disk_uuid: String,
    pub sector_bytes: u64,
    pub partitions: Vec<Partition>,
}

impl Table {
    /// Partition `number` (1 to 5 in a checked layout).
    pub fn part(&self, number: u32) -> &Partition {
        self.partitions
            .iter()
            .find(|p| p.number == number)
            .expect("checked Panier layout")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("`sfdisk {args}` on {device}: {detail}")]
    Sfdisk {
        device: String,
        args: String,
        detail: String,
    },
    #[error("{device} has no partition table sfdisk can read: {detail}")]
    Unreadable { device: String, detail: String },
}

#[derive(Deserialize)]
struct Json {
    partitiontable: JsonTable,
}

#[derive(Deserialize)]
struct JsonTable {
    label: String,
    id: String,
    #[serde(default)]
    sectorsize: Option<u64>,
    #[serde(default)]
    partitions: Vec<JsonPart>,
}

#[derive(Deserialize)]
struct JsonPart {
    node: String,
    start: u64,
    size: u64,
    #[serde(rename = "type")]
    type_uuid: String,
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    name: String,
}

fn sfdisk(device: &Path, args: &[&str], input: Option<&str>) -> Result<String, TableError> {
    let err = |detail: String| TableError::Sfdisk {
        device: device.display().to_string(),
        args: args.join(" "),
        detail,
    };
    let mut child = Command::new("sfdisk")
        .args(args)
        .arg(device)
        .env("LC_ALL", "C")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run it: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        std::io::Write::write_all(&mut stdin, text.as_bytes()).map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The partition number from sfdisk's node name (`/dev/sda3`, `/dev/nvme0n1p3`, `disk.img3`).
fn number_of(node: &str) -> u32 {
    let digits: String = node
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
}

/// Reads a disk's GPT.
pub fn read(device: &Path) -> Result<Table, TableError> {
    let unreadable = |detail: String| TableError::Unreadable {
        device: device.display().to_string(),
        detail,
    };
    let text = sfdisk(device, &["--json"], None).map_err(|e| match e {
        TableError::Sfdisk { detail, .. } => unreadable(detail),
        other => other,
    })?;
    let json: Json = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    let t = json.partitiontable;
    if t.label != "gpt" {
        return Err(unreadable(format!(
            "a {} partition table, not GPT",
            t.label
        )));
    }
    let sector = t.sectorsize.unwrap_or(512);
    let partitions = t
        .partitions
        .into_iter()
        .map(|p| Partition {
            number: number_of(&p.node),
            name: p.name,
            start_bytes: p.start * sector,
            size_bytes: p.size * sector,
            type_uuid: p.type_uuid.to_uppercase(),
            uuid: p.uuid.to_uppercase(),
        })
        .collect();
    Ok(Table {
        disk_uuid: t.id.to_uppercase(),
        sector_bytes: sector,
        partitions,
    })
}

/// Why a table is not a Panier layout, if it is not.
pub fn check_panier(table: &Table) -> Result<(), String> {
    if table.partitions.len() != NAMES.len() {
        return Err(format!(
            "{} partitions instead of {}",
            table.partitions.len(),
            NAMES.len()
        ));
    }
    let mut previous_end = MIB;
    for (i, (name, type_uuid)) in NAMES.iter().zip(TYPES).enumerate() {
        let number = i as u32 + 1;
        let Some(p) = table.partitions.iter().find(|p| p.number == number) else {
            return Err(format!("no partition {number}"));
        };
        if p.name != *name {
            return Err(format!(
                "partition {number} is named '{}', not '{name}'",
                p.name
            ));
        }
        if p.type_uuid != type_uuid {
            return Err(format!(
                "partition {number} ({name}) has type {}, not {type_uuid}",
                p.type_uuid
            ));
        }
        // The data partition is not copied: on a stick it was grown to the disk's end, to a
        // size of any number of sectors.
        let unaligned = p.start_bytes % 4096 != 0 || (number < 5 && p.size_bytes % 4096 != 0);
        if p.start_bytes < previous_end || p.size_bytes == 0 || unaligned {
            return Err(format!(
                "partition {number} ({name}) overlaps the one before it, starts in the first MiB or is not 4 KiB-aligned"
            ));
        }
        previous_end = p.end_bytes();
    }
    if table.part(3).size_bytes != table.part(4).size_bytes {
        return Err("the two system slots (partitions 3 and 4) differ in size".into());
    }
    Ok(())
}

/// A random (version 4) UUID, in sfdisk's uppercase form.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if let Err(e) = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
    {
        // Without /dev/urandom there is nothing sensible left to do: never reuse a UUID.
        panic!("cannot read /dev/urandom: {e}");
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The target's table (see the module doc), for a disk with `sector_bytes` logical sectors.
pub fn plan(source: &Table, sector_bytes: u64) -> Table {
    let partitions = source
        .partitions
        .iter()
        .map(|p| Partition {
            size_bytes: if p.number == 5 {
                DATA_BYTES
            } else {
                p.size_bytes
            },
            uuid: random_uuid(),
            ..p.clone()
        })
        .collect();
    Table {
        disk_uuid: random_uuid(),
        sector_bytes,
        partitions,
    }
}

/// The bytes a disk needs to hold `plan` (its partitions and the backup GPT).
pub fn needed_bytes(plan: &Table) -> u64 {
    plan.partitions
        .iter()
        .map(Partition::end_bytes)
        .max()
        .unwrap_or(0)
        + TAIL_BYTES
}

/// The `sfdisk` script that writes `plan`.
pub fn script(plan: &Table) -> String {
    let s = plan.sector_bytes;
    let first_lba = plan
        .partitions
        .iter()
        .map(|p| p.start_bytes)
        .min()
        .unwrap_or(MIB)
        / s;
    let mut out = format!(
        "label: gpt\nlabel-id: {}\nfirst-lba: {first_lba}\nsector-size: {s}\n",
        plan.disk_uuid
    );
    for p in &plan.partitions {
        out.push_str(&format!(
            "start={}, size={}, type={}, uuid={}, name=\"{}\"\n",
            p.start_bytes / s,
            p.size_bytes / s,
            p.type_uuid,
            p.uuid,
            p.name
        ));
    }
    out
}

/// Writes `plan` onto `device` (which the caller holds exclusively: sfdisk does not tell the
/// kernel, the caller re-reads the table with its own handle).
pub fn write(device: &Path, plan: &Table) -> Result<(), TableError> {
    sfdisk(
        device,
        &[
            "--quiet",
            "--no-reread",
            "--no-tell-kernel",
            "--wipe",
            "never",
        ],
        Some(&script(plan)),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panier() -> Table {
        let mib = |n: u64| n * MIB;
        let parts = [
            (1, mib(1), mib(1)),
            (2, mib(2), mib(32)),
            (3, mib(34), mib(1024)),
            (4, mib(1058), mib(1024)),
            (5, mib(2082), mib(16)),
        ];
        Table {
            disk_uuid: "X".into(),
            sector_bytes: 512,
            partitions: parts
                .iter()
                .map(|&(n, start, size)| Partition {
                    number: n,
                    name: NAMES[n as usize - 1].into(),
                    start_bytes: start,
                    size_bytes: size,
                    type_uuid: TYPES[n as usize - 1].into(),
                    uuid: random_uuid(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_panier_layout_is_recognised_and_others_are_not() {
        let good = panier();
        assert_eq!(check_panier(&good), Ok(()));
        let mut renamed = good.clone();
        renamed.partitions[2].name = "root".into();
        assert!(
            check_panier(&renamed)
                .unwrap_err()
                .contains("partition 3 is named 'root'")
        );
        let mut short = good.clone();
        short.partitions.pop();
        assert!(check_panier(&short).is_err());
        let mut grown = good.clone();
        grown.partitions[4].size_bytes = 7_999_999 * 512;
        assert_eq!(
            check_panier(&grown),
            Ok(()),
            "a stick's grown data partition"
        );
        let mut slots = good.clone();
        slots.partitions[3].size_bytes -= MIB;
        assert!(check_panier(&slots).unwrap_err().contains("system slots"));
    }

    #[test]
    fn the_plan_keeps_offsets_and_renews_uuids() {
        let source = panier();
        let plan = plan(&source, 512);
        for (s, t) in source.partitions.iter().zip(&plan.partitions) {
            assert_eq!(
                (s.number, &s.name, s.start_bytes, &s.type_uuid),
                (t.number, &t.name, t.start_bytes, &t.type_uuid)
            );
            assert_ne!(s.uuid, t.uuid);
        }
        assert_eq!(plan.part(5).size_bytes, DATA_BYTES);
        assert_eq!(needed_bytes(&plan), (2082 + 16 + 1) * MIB);
        let script = script(&plan);
        assert!(
            script.contains("first-lba: 2048\n")
                && script.contains(
                    "start=69632, size=2097152, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
                ),
            "{script}"
        );
        assert_eq!(random_uuid().len(), 36);
        assert_eq!(&random_uuid()[14..15], "4");
    }

    #[test]
    fn partition_numbers_come_from_node_names() {
        assert_eq!(number_of("/dev/nvme0n1p3"), 3);
        assert_eq!(number_of("disk.img12"), 12);
    }
}
