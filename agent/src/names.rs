//! Validated newtypes for everything a person types: box names, usernames, passwords,
//! languages and setup codes.
//!
//! Invariant: a value of these types is valid by construction, so invalid input cannot reach
//! the store, the engine, nft or a shell. Each type deserializes through `TryFrom<String>`, so a
//! bad field in a JSON or form body is rejected by serde with the field's name and the problem.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was rejected; the message names the problem in plain words (English; the UI
/// shows the translated text for `key`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        key,
        message: message.into(),
    }
}

fn reject_control(value: &str, what: &str) -> Result<(), Invalid> {
    if value.chars().any(char::is_control) {
        return Err(invalid(
            "control_characters",
            format!("{what} contains control characters"),
        ));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(value: String) -> Result<Self, Invalid> {
                $name::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The box's name: one DNS label, so that `<box>.local` and `<service>-<box>.local` are valid
/// mDNS names. Lowercase letters, digits and inner hyphens; at most 40 characters so that a
/// service prefix still fits in the 63 bytes of a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "mediatheque")]
pub struct BoxName(String);
string_newtype!(BoxName);

impl BoxName {
    pub const MAX_LEN: usize = panier_hw::names::BOX_NAME_MAX;

    /// The rule is `panier_hw::names::valid_box_name` (shared with provisioning and the
    /// installer); this says which part of it a refused name breaks.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        reject_control(value, "the box name")?;
        let v = value.trim();
        if panier_hw::names::valid_box_name(v) {
            return Ok(BoxName(v.to_owned()));
        }
        Err(if v.is_empty() {
            invalid("box_name_empty", "the box name is empty")
        } else if v.len() > Self::MAX_LEN {
            invalid(
                "box_name_too_long",
                format!("the box name is longer than {} characters", Self::MAX_LEN),
            )
        } else if v.starts_with('-') || v.ends_with('-') {
            invalid(
                "box_name_hyphen",
                "the box name cannot start or end with a hyphen",
            )
        } else {
            invalid(
                "box_name_chars",
                "the box name may only hold lowercase letters a-z, digits and hyphens",
            )
        })
    }
}

/// An administrator's login name: 1 to 32 characters, lowercase letters, digits, `.`, `_`
/// and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "camille")]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        reject_control(value, "the username")?;
        let v = value.trim();
        let ok_chars = v.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        if v.is_empty()
            || v.len() > 32
            || !ok_chars
            || !v.starts_with(|c: char| c.is_ascii_lowercase())
        {
            return Err(invalid(
                "username_invalid",
                "the username must be 1 to 32 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter",
            ));
        }
        Ok(Username(v.to_owned()))
    }
}

/// A new password: at least 10 characters, at most 1024, no control characters. Its `Debug`
/// never shows the value, so it cannot leak into a log.
#[derive(Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, format = Password)]
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 10;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        reject_control(value, "the password")?;
        let n = value.chars().count();
        if n < Self::MIN_LEN {
            return Err(invalid(
                "password_too_short",
                format!(
                    "the password must have at least {} characters",
                    Self::MIN_LEN
                ),
            ));
        }
        if n > 1024 {
            return Err(invalid(
                "password_too_long",
                "the password is longer than 1024 characters",
            ));
        }
        Ok(Password(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Invalid> {
        Password::parse(&value)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// The languages the box speaks. French is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fr,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Fr => "fr",
            Language::En => "en",
        }
    }

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        match value.trim() {
            "fr" => Ok(Language::Fr),
            "en" => Ok(Language::En),
            _ => Err(invalid(
                "language_unknown",
                "the language must be 'fr' or 'en'",
            )),
        }
    }
}

/// The one-time setup code shown on the box's screen and in the journal.
///
/// Ten characters from an alphabet without look-alikes (no 0/O, 1/I/L), grouped for reading
/// as `ABCDE-FGHJK`; comparison ignores case, spaces and hyphens.
#[derive(Clone, PartialEq, Eq)]
pub struct SetupCode(String);

impl SetupCode {
    pub const ALPHABET: &'static [u8] = panier_hw::names::SETUP_CODE_ALPHABET;
    pub const LEN: usize = 10;

    pub fn generate() -> Self {
        use rand::Rng;
        let mut rng = rand::rng();
        let code = (0..Self::LEN)
            .map(|_| Self::ALPHABET[rng.random_range(0..Self::ALPHABET.len())] as char)
            .collect();
        SetupCode(code)
    }

    /// Parses a code as typed by a person (any case, spaces and hyphens ignored).
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        panier_hw::names::normalized_setup_code(value)
            .map(SetupCode)
            .ok_or_else(|| {
                invalid(
                    "setup_code_format",
                    "the setup code has letters and digits that cannot be in a setup code",
                )
            })
    }

    /// The raw code, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code as shown to people: groups of five.
    pub fn display(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars
            .chunks(5)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Constant-time comparison, so the time to answer does not reveal a prefix.
    pub fn matches(&self, other: &SetupCode) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SetupCode(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_names() {
        assert!(BoxName::parse("mediatheque-2").is_ok());
        for bad in [
            "",
            "-x",
            "x-",
            "Médiathèque",
            "a.b",
            "a b",
            "x\u{7}",
            &"a".repeat(41),
        ] {
            assert!(BoxName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(Username::parse("camille.d").is_ok());
        assert!(Username::parse("9lives").is_err());
        assert!(Username::parse("root\n").is_err());
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough pass").is_ok());
        assert!(Password::parse("long enough\u{0}pass").is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-secret").unwrap()),
            "Password(…)"
        );
    }

    #[test]
    fn setup_codes() {
        let code = SetupCode::generate();
        assert_eq!(code.as_str().len(), SetupCode::LEN);
        let typed = SetupCode::parse(&code.display().to_lowercase()).unwrap();
        assert!(code.matches(&typed));
        assert!(SetupCode::parse("ABCDE-0OIL1").is_err());
    }

    #[test]
    fn json_names_the_field() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            box_name: BoxName,
        }
        let err = serde_json::from_str::<Body>(r#"{"box_name":"Bad Name"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lowercase"), "{err}");
    }
}
