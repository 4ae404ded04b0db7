//! Hardware tools for refurbishment workshops and the box's Hardware page.
pub mod blockdev;
pub mod certificate;
pub mod flash;
pub mod host;
pub mod html;
pub mod i18n;
pub mod models;
pub mod probe;
pub mod rawio;
pub mod verdict;
pub mod wipe;
