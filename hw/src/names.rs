//! The naming rules of a box, written once: DNS labels, the box name and the setup code. The
//! agent's validated types (`panier::names`), the proxy's announced names, the installer, the
//! refurbishment sheet and the image's provisioning script (`provision`, checked against these
//! rules by `hw/tests/names_match_provisioning.rs`) all follow them.

/// The longest box name: `<name>.local` and `<service>-<name>.local` stay within a DNS label.
pub const BOX_NAME_MAX: usize = 40;

/// The setup code's alphabet: no look-alikes (no 0/O, 1/I/L).
pub const SETUP_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// The lengths a setup code may have once normalized (a generated one has 10 characters).
pub const SETUP_CODE_LEN: std::ops::RangeInclusive<usize> = 8..=32;

/// A DNS label the box can announce, of at most `max` bytes (63 is DNS's own limit):
/// lowercase letters, digits and inner hyphens.
pub fn dns_label(s: &str, max: usize) -> bool {
    (1..=max.min(63)).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The box name rule: a DNS label of at most [`BOX_NAME_MAX`] bytes.
pub fn valid_box_name(name: &str) -> bool {
    dns_label(name, BOX_NAME_MAX)
}

/// The setup code as typed by a person (any case, spaces and hyphens ignored), normalized as
/// provisioning and the agent store it (uppercase, no separators); `None` if it is not one.
pub fn normalized_setup_code(code: &str) -> Option<String> {
    let code: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .collect::<String>()
        .to_ascii_uppercase();
    (SETUP_CODE_LEN.contains(&code.len()) && code.bytes().all(|b| SETUP_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(dns_label("pad-biblio", 63));
        assert!(dns_label("a", 63));
        assert!(!dns_label("", 63));
        assert!(!dns_label("-pad", 63));
        assert!(!dns_label("pad-", 63));
        assert!(!dns_label("Pad", 63));
        assert!(!dns_label("pad.biblio", 63));
        assert!(!dns_label(&"a".repeat(64), 100));
        assert!(valid_box_name(&"a".repeat(40)));
        assert!(!valid_box_name(&"a".repeat(41)));
    }

    #[test]
    fn setup_codes() {
        assert_eq!(
            normalized_setup_code("abcde-fghjk").as_deref(),
            Some("ABCDEFGHJK")
        );
        assert_eq!(
            normalized_setup_code("ABCD EFGH").as_deref(),
            Some("ABCDEFGH")
        );
        assert_eq!(normalized_setup_code("ABCDEFG"), None);
        assert_eq!(normalized_setup_code("ABCDEFGH0"), None);
        assert_eq!(normalized_setup_code("ABCDEFGHI"), None);
    }
}
