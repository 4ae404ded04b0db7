//! The box's TLS certificate (the admin UI and services by name). It is renewed by `tls`
//! 30 days before expiry, so one closer than [`WARN_DAYS`] means renewal keeps failing.

use super::{Finding, Inputs, State};

pub const WARN_DAYS: i64 = 20;
pub const CRITICAL_DAYS: i64 = 3;

pub fn certificate(i: &Inputs<'_>) -> Finding {
    let Some(expires) = i.certificate_expires else {
        return Finding::new("certificate", State::Unknown, "certificate_unknown");
    };
    let days = (expires - i.now).div_euclid(86400);
    let state = match days {
        d if d < CRITICAL_DAYS => State::Critical,
        d if d < WARN_DAYS => State::Warning,
        _ => State::Ok,
    };
    let key = match state {
        State::Ok => "certificate_ok",
        _ if days < 0 => "certificate_expired",
        _ => "certificate_expiring",
    };
    Finding::new("certificate", state, key)
        .arg("days", days.max(0))
        .arg("date", crate::http::time::format_time(expires))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn days_left() {
        let r = readings(50, 50);
        let mut i = inputs(&r);
        let f = |i: &Inputs<'_>| {
            let f = certificate(i);
            (f.state, f.key)
        };
        assert_eq!(f(&i), (State::Unknown, "certificate_unknown"));
        i.certificate_expires = Some(i.now + 300 * 86400);
        assert_eq!(f(&i), (State::Ok, "certificate_ok"));
        i.certificate_expires = Some(i.now + 10 * 86400);
        assert_eq!(f(&i), (State::Warning, "certificate_expiring"));
        i.certificate_expires = Some(i.now + 86400);
        assert_eq!(f(&i), (State::Critical, "certificate_expiring"));
        i.certificate_expires = Some(i.now - 10);
        assert_eq!(f(&i), (State::Critical, "certificate_expired"));
    }
}
