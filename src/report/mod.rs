//! Result folders: writing `summary.json`, reading it back, rendering tables for people.
//! Works from result files only, so a folder from another machine renders the same.

pub mod summary;
pub mod table;

pub use summary::Summary;
