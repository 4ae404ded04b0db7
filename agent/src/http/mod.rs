//! The HTTP pieces the JSON API (`api/`) and the HTML pages (`web/`) share: request extractors
//! (`extract`: the client's address, the acting admin, JSON bodies), the error type turned
//! into an answer in one exhaustive `match` (`error`), cookies (`cookie`), the request's
//! language (`language`), error answers said in that language (`localize`) and times as people
//! read them (`time`).
//!
//! Invariant: `api/` and `web/` depend on this module and on the domain modules, never on each
//! other (`tools/lint.sh` checks it). Nothing here knows a domain's routes or pages.

pub mod cookie;
pub mod error;
pub mod extract;
pub mod language;
pub mod localize;
pub mod time;

pub use error::{ApiError, ErrorBody};
