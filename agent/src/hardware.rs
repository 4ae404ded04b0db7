//! The box's own hardware, as the admin UI and the API show it: the `panier-hw` probe and
//! verdict (the same as `panier hw check` on the workshop's USB stick), read on demand.
//!
//! Probing reads sysfs and runs smartctl and dmidecode, so it runs on a blocking thread.

use crate::names::Language;
use panier_hw::HardwareSummary;
use panier_hw::i18n::Lang;

pub fn lang(language: Language) -> Lang {
    match language {
        Language::Fr => Lang::Fr,
        Language::En => Lang::En,
    }
}

/// Probes the machine and judges it, in `language`.
pub async fn summary(language: Language) -> HardwareSummary {
    let lang = lang(language);
    tokio::task::spawn_blocking(move || panier_hw::hardware_summary(lang))
        .await
        .expect("the hardware probe does not panic")
}
