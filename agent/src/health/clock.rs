//! The clock: certificates, backups' schedule and their age, update expiry and logs all
//! trust it. Read from the kernel (`adjtimex`, what `timedatectl` shows as "System clock
//! synchronized"), so it works whichever NTP client runs. A clock before [`EARLIEST`] is
//! certainly wrong (a mini-PC with a flat CMOS battery and no network time).

use super::{Finding, Inputs, State};

/// 2026-01-01: no Panier box has a correct clock before this.
pub const EARLIEST: i64 = 1_767_225_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClockState {
    /// The kernel says an NTP client keeps the clock synchronised.
    pub synchronized: bool,
    /// Estimated error, in microseconds, when synchronised.
    pub error_us: Option<i64>,
}

/// The kernel's view (`adjtimex` with no change asked).
pub fn read() -> Option<ClockState> {
    // SAFETY: a zeroed `timex` with `modes = 0` only reads the kernel's state.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::adjtimex(&mut t) };
    if r < 0 {
        return None;
    }
    let synchronized = r != libc::TIME_ERROR && t.status & libc::STA_UNSYNC == 0;
    Some(ClockState {
        synchronized,
        error_us: synchronized.then_some(t.esterror),
    })
}

pub fn clock(i: &Inputs<'_>) -> Finding {
    if i.now < EARLIEST {
        return Finding::new("clock", State::Critical, "clock_wrong")
            .arg("now", crate::http::time::format_time(i.now));
    }
    match i.clock {
        None => Finding::new("clock", State::Unknown, "clock_unknown"),
        Some(c) if c.synchronized => Finding::new("clock", State::Ok, "clock_ok"),
        Some(_) => Finding::new("clock", State::Warning, "clock_unsynced"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn synchronised_unsynchronised_or_wrong() {
        let r = readings(50, 50);
        let mut i = inputs(&r);
        assert_eq!(clock(&i).state, State::Unknown);
        i.clock = Some(ClockState {
            synchronized: true,
            error_us: Some(100),
        });
        assert_eq!(clock(&i).key, "clock_ok");
        i.clock = Some(ClockState {
            synchronized: false,
            error_us: None,
        });
        assert_eq!(clock(&i).key, "clock_unsynced");
        i.now = 946_684_800;
        assert_eq!(clock(&i).state, State::Critical);
        // This machine answers.
        assert!(read().is_some());
    }
}
