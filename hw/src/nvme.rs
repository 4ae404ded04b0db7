//! NVMe admin commands through the kernel's passthrough ioctl, without nvme-cli (Buildroot
//! has no package for it, so the release image and its install stick must do without).
//!
//! Owns the few commands a wipe needs: Identify (controller and namespace), Format NVM with a
//! secure erase setting, Sanitize and its status log page. Each is a [`PassthruCmd`] sent with
//! `NVME_IOCTL_ADMIN_CMD` on the namespace's block device (`/dev/nvme0n1`); the kernel routes
//! it to the controller, and after a Format it re-reads the namespace itself.
//!
//! Invariants: the ioctl's return value is checked both ways: negative is an errno, positive
//! is the controller's status field (for example 0x2 "invalid field"), and either is an
//! error naming the command. A Format keeps the namespace's current LBA format, metadata and
//! protection settings (read from Identify Namespace first): only the erase changes.
//!
//! Limits: root only (the kernel asks for CAP_SYS_ADMIN). Sanitize cannot be exercised here:
//! QEMU 7.2's controller does not implement it; its command words follow the NVMe 1.4 base
//! specification, and its selection is tested on identify data.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `_IO('N', 0x40)`: the namespace ID of a namespace's block device.
const NVME_IOCTL_ID: libc::c_ulong = 0x4e40;
/// `_IOWR('N', 0x41, struct nvme_admin_cmd)` (72 bytes).
const NVME_IOCTL_ADMIN_CMD: libc::c_ulong = 0xc048_4e41;

const OPCODE_GET_LOG_PAGE: u8 = 0x02;
const OPCODE_IDENTIFY: u8 = 0x06;
const OPCODE_FORMAT: u8 = 0x80;
const OPCODE_SANITIZE: u8 = 0x84;
const LOG_SANITIZE_STATUS: u32 = 0x81;
const NSID_ALL: u32 = 0xffff_ffff;

/// `struct nvme_passthru_cmd` of `<linux/nvme_ioctl.h>`.
#[repr(C)]
#[derive(Debug, Default)]
struct PassthruCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    addr: u64,
    metadata_len: u32,
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    timeout_ms: u32,
    result: u32,
}

const _: () = assert!(std::mem::size_of::<PassthruCmd>() == 72);

/// Sends one admin command; `data` is the buffer the controller reads or fills.
fn admin(file: &File, name: &str, mut cmd: PassthruCmd, data: Option<&mut [u8]>) -> io::Result<()> {
    if let Some(data) = data {
        cmd.addr = data.as_mut_ptr() as u64;
        cmd.data_len = data.len() as u32;
    }
    // SAFETY: the kernel reads `cmd` and writes back its `result`; `addr`/`data_len` describe
    // a buffer that lives, mutably borrowed, until the ioctl returns.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            NVME_IOCTL_ADMIN_CMD,
            &mut cmd as *mut PassthruCmd,
        )
    };
    match rc {
        0 => Ok(()),
        rc if rc < 0 => {
            let e = io::Error::last_os_error();
            Err(io::Error::new(e.kind(), format!("NVMe {name}: {e}")))
        }
        status => Err(io::Error::other(format!(
            "NVMe {name}: the controller answered status {status:#x}"
        ))),
    }
}

/// The namespace ID behind a namespace's block device.
pub fn namespace_id(file: &File) -> io::Result<u32> {
    // SAFETY: NVME_IOCTL_ID takes no argument and returns the ID (or -1 and errno).
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), NVME_IOCTL_ID) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("NVMe namespace ID: {e} (not an NVMe namespace?)"),
        ));
    }
    Ok(rc as u32)
}

fn identify(file: &File, cns: u32, nsid: u32) -> io::Result<Vec<u8>> {
    let mut data = vec![0u8; 4096];
    let cmd = PassthruCmd {
        opcode: OPCODE_IDENTIFY,
        nsid,
        cdw10: cns,
        ..Default::default()
    };
    admin(file, "identify", cmd, Some(&mut data))?;
    Ok(data)
}

/// The 4096 bytes of Identify Controller.
pub fn identify_controller(file: &File) -> io::Result<Vec<u8>> {
    identify(file, 1, 0)
}

/// What a wipe needs from Identify Controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub serial: String,
    pub model: String,
    /// Sanitize: crypto erase, block erase (SANICAP bits 0 and 1).
    pub sanitize_crypto: bool,
    pub sanitize_block: bool,
    /// Format NVM supported (OACS bit 1), and with crypto erase (FNA bit 2).
    pub format: bool,
    pub format_crypto: bool,
}

impl Controller {
    /// Parses Identify Controller; `None` when the data is too short to be one.
    pub fn parse(data: &[u8]) -> Option<Self> {
        if data.len() < 4096 {
            return None;
        }
        let text = |range: std::ops::Range<usize>| {
            String::from_utf8_lossy(&data[range]).trim().to_string()
        };
        let oacs = u16::from_le_bytes([data[256], data[257]]);
        let sanicap = u32::from_le_bytes([data[328], data[329], data[330], data[331]]);
        let fna = data[524];
        let format = oacs & 0x2 != 0;
        Some(Self {
            serial: text(4..24),
            model: text(24..64),
            sanitize_crypto: sanicap & 0x1 != 0,
            sanitize_block: sanicap & 0x2 != 0,
            format,
            format_crypto: format && fna & 0x4 != 0,
        })
    }
}

/// Secure Erase Settings of Format NVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraseSetting {
    UserData = 1,
    Crypto = 2,
}

/// Command dword 10 of a Format NVM that keeps the namespace's format (FLBAS and DPS of
/// Identify Namespace) and asks for `erase`.
pub fn format_dword(identify_ns: &[u8], erase: EraseSetting) -> u32 {
    let flbas = u32::from(identify_ns[26]);
    let dps = u32::from(identify_ns[29]);
    let lbaf = flbas & 0xf;
    let lbaf_high = (flbas >> 5) & 0x3;
    let mset = (flbas >> 4) & 0x1;
    let pi = dps & 0x7;
    let pil = (dps >> 3) & 0x1;
    lbaf | mset << 4 | pi << 5 | pil << 8 | (erase as u32) << 9 | lbaf_high << 12
}

/// Formats the namespace behind `file`, erasing it; returns when the controller is done.
pub fn format(file: &File, erase: EraseSetting) -> io::Result<()> {
    let nsid = namespace_id(file)?;
    let ns = identify(file, 0, nsid)?;
    // A user-data erase of a big disk can take a while; the kernel's default is 60 s.
    let cmd = PassthruCmd {
        opcode: OPCODE_FORMAT,
        nsid,
        cdw10: format_dword(&ns, erase),
        timeout_ms: 3 * 3600 * 1000,
        ..Default::default()
    };
    admin(file, "format", cmd, None)
}

/// Sanitize actions (SANACT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SanitizeAction {
    BlockErase = 2,
    CryptoErase = 4,
}

/// Starts a sanitize of the whole controller; it runs in the background ([`sanitize_status`]).
pub fn sanitize(file: &File, action: SanitizeAction) -> io::Result<()> {
    let cmd = PassthruCmd {
        opcode: OPCODE_SANITIZE,
        cdw10: action as u32,
        ..Default::default()
    };
    admin(file, "sanitize", cmd, None)
}

/// Where a sanitize stands (Sanitize Status log page).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SanitizeStatus {
    NeverSanitized,
    Done,
    /// In progress, with the fraction done (0..=1).
    Running(f32),
    Failed,
    Other(u16),
}

impl SanitizeStatus {
    /// Parses the first bytes of the log page: SPROG (progress / 65536), then SSTAT.
    pub fn parse(log: &[u8]) -> Self {
        let sprog = u16::from_le_bytes([log[0], log[1]]);
        let sstat = u16::from_le_bytes([log[2], log[3]]);
        match sstat & 0x7 {
            0 => Self::NeverSanitized,
            1 | 4 => Self::Done,
            2 => Self::Running(f32::from(sprog) / 65536.0),
            3 => Self::Failed,
            other => Self::Other(other),
        }
    }
}

pub fn sanitize_status(file: &File) -> io::Result<SanitizeStatus> {
    let mut log = vec![0u8; 512];
    let dwords = (log.len() / 4 - 1) as u32;
    let cmd = PassthruCmd {
        opcode: OPCODE_GET_LOG_PAGE,
        nsid: NSID_ALL,
        cdw10: LOG_SANITIZE_STATUS | dwords << 16,
        ..Default::default()
    };
    admin(file, "sanitize status", cmd, Some(&mut log))?;
    Ok(SanitizeStatus::parse(&log))
}

/// Identify Controller data with these fields, zeros elsewhere (for tests).
#[cfg(test)]
pub(crate) fn controller_data(
    serial: &str,
    model: &str,
    oacs: u16,
    sanicap: u32,
    fna: u8,
) -> Vec<u8> {
    let mut data = vec![b' '; 64];
    data[..4].fill(0);
    data[4..4 + serial.len()].copy_from_slice(serial.as_bytes());
    data[24..24 + model.len()].copy_from_slice(model.as_bytes());
    data.resize(4096, 0);
    data[256..258].copy_from_slice(&oacs.to_le_bytes());
    data[328..332].copy_from_slice(&sanicap.to_le_bytes());
    data[524] = fna;
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_controller_fields() {
        let c = Controller::parse(&controller_data(
            "S4EVNX0N123456",
            "Samsung SSD 970 EVO Plus 500GB",
            0x17,
            0x3,
            0x0,
        ))
        .unwrap();
        assert_eq!(
            (c.serial.as_str(), c.model.as_str()),
            ("S4EVNX0N123456", "Samsung SSD 970 EVO Plus 500GB")
        );
        assert!(c.sanitize_crypto && c.sanitize_block && c.format && !c.format_crypto);
        let c = Controller::parse(&controller_data("X", "Y", 0x6, 0, 0x4)).unwrap();
        assert!(!c.sanitize_crypto && !c.sanitize_block && c.format && c.format_crypto);
        let no_format = Controller::parse(&controller_data("X", "Y", 0x0, 0, 0x4)).unwrap();
        assert!(
            !no_format.format && !no_format.format_crypto,
            "FNA means nothing without Format NVM"
        );
        assert_eq!(Controller::parse(&[0u8; 512]), None);
    }

    #[test]
    fn format_keeps_the_namespace_format() {
        let mut ns = vec![0u8; 4096];
        assert_eq!(format_dword(&ns, EraseSetting::UserData), 1 << 9);
        ns[26] = 0x01 | 0x10 | 0x20; // LBA format 1, metadata at the end of each block, LBAF 17
        ns[29] = 0x01 | 0x08; // protection type 1, in the first bytes
        let dword = format_dword(&ns, EraseSetting::Crypto);
        assert_eq!(dword & 0xf, 1);
        assert_eq!((dword >> 4) & 1, 1, "metadata setting kept");
        assert_eq!((dword >> 5) & 0x7, 1, "protection type kept");
        assert_eq!((dword >> 8) & 1, 1, "protection location kept");
        assert_eq!((dword >> 9) & 0x7, 2, "crypto erase");
        assert_eq!((dword >> 12) & 0x3, 1, "upper bits of the LBA format");
    }

    #[test]
    fn sanitize_status_log() {
        assert_eq!(
            SanitizeStatus::parse(&[0, 0, 0, 0]),
            SanitizeStatus::NeverSanitized
        );
        assert_eq!(
            SanitizeStatus::parse(&[0, 0x80, 2, 0]),
            SanitizeStatus::Running(0.5)
        );
        assert_eq!(
            SanitizeStatus::parse(&[0xff, 0xff, 0x01, 0x01]),
            SanitizeStatus::Done,
            "bits 8+ are not the status"
        );
        assert_eq!(
            SanitizeStatus::parse(&[0, 0, 4, 0]),
            SanitizeStatus::Done,
            "done without deallocation"
        );
        assert_eq!(SanitizeStatus::parse(&[0, 0, 3, 0]), SanitizeStatus::Failed);
    }
}
