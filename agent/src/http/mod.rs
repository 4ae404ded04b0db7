//! The HTTP pieces the JSON API (`api/`) and the HTML pages (`web/`) share: request extractors
//! (`extract`: the client's address, the acting admin, JSON bodies) and the error type turned
//! into an answer in one exhaustive `match` (`error`).
//!
//! Invariant: `api/` and `web/` depend on this module and on the domain modules, never on each
//! other (`tools/lint.sh` checks it). Nothing here knows a domain's routes or pages.

pub mod error;
pub mod extract;

pub use error::{ApiError, ErrorBody};
