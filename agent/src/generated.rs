//! File lists collected by `build.rs`: migrations and message catalogs.
include!(concat!(env!("OUT_DIR"), "/generated.rs"));
