//! The Panier agent as a library: the binary (`main.rs`) and the tests use it.
//! ARCHITECTURE.md at the repository root maps these modules and the data flow.

pub mod admins;
pub mod api;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diagnostic;
pub mod engine;
pub mod firewall;
pub mod fsutil;
mod generated;
pub mod hardware;
pub mod health;
pub mod http;
pub mod i18n;
pub mod install;
pub mod jobs;
pub mod logging;
pub mod mdns;
pub mod names;
pub mod portal;
pub mod proxy;
pub mod signing;
pub mod state;
pub mod status;
pub mod store;
pub mod system;
pub mod tls;
pub mod update;
pub mod web;
