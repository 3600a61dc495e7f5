//! image-promote: promote a tested container image from a staging registry to a production
//! registry, byte for byte, and refuse to promote what should not ship. This library is shared by
//! the binary, the integration tests and the fuzz targets; `docs/architecture.md` describes the pipeline.
#![deny(missing_docs)]

pub mod action;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod copy;
pub mod digest;
pub mod error;
pub mod gate;
pub mod github;
#[cfg(target_family = "wasm")]
mod host;
pub mod media;
#[cfg(not(target_family = "wasm"))]
pub mod native;
pub mod notify;
pub mod policy;
pub mod promote;
pub mod reference;
pub mod referrers;
pub mod registry;
pub mod release;
pub mod report;
pub mod resolve;
pub mod runtime;
pub mod scan;
pub mod signature;
pub mod tags;
pub mod text;
