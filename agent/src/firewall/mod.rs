pub mod ruleset;
pub mod types;
