//! The Report stage: renders the one [`Promotion`] record as the audit JSON ([`audit`]), the
//! errors log ([`errors`]) and the step summary ([`summary`]); every write goes through the
//! redacting [`Sink`]. Nothing else in the crate writes results (docs/architecture.md, The pipeline).

pub mod audit;
pub mod errors;
pub mod facts;
pub mod journal;
pub mod lineage;
pub mod record;
pub mod results;
pub mod sink;
pub mod state;
pub mod summary;

pub use record::{Promotion, State, Status};
pub use sink::{Redactor, Sink};
