//! The rules stage of the pipeline: value validation and declared rules (the fastlege override), both read
//! from `mappings/` like the profiles.

pub mod codes;
pub mod ident;
mod source;

pub use codes::{CodeSystem, CodeTables};
