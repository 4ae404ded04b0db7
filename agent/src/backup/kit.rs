//! The emergency kit: everything needed to get the data back without this box — its name,
//! the target, the repository password, the date, and the restore steps both with Panier (the
//! setup wizard of a fresh box) and with plain restic on any computer. Shown (and printable)
//! when a target is created; the admin confirms it was printed or saved.
//!
//! The password is generated here: 6 groups of 5 characters from an alphabet without
//! look-alikes (≈ 148 bits), easy to type from paper.

use super::Location;
use crate::store::TargetRow;
use rand::Rng;
use serde::Serialize;

const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..6)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Kit {
    pub box_name: String,
    pub target: String,
    pub location: String,
    /// The repository argument for plain restic (`-r`).
    pub restic_repository: String,
    pub password: String,
    /// Unix time the target was created.
    pub created_at: i64,
    pub confirmed: bool,
}

impl Kit {
    pub fn new(box_name: &str, row: &TargetRow, location: Location) -> Kit {
        Kit {
            box_name: box_name.to_owned(),
            target: row.name.clone(),
            location: location.describe(),
            restic_repository: location.restic_url_for_kit(),
            password: row.password.clone(),
            created_at: row.created_at,
            confirmed: row.kit_confirmed_at.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_long_and_distinct() {
        let (a, b) = (super::generate_password(), super::generate_password());
        assert_eq!(a.len(), 35);
        assert_ne!(a, b);
    }
}
