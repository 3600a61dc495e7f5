//! Releases of many services: the plan file (`plan_file`), the plan it gives against the
//! registries (incoming vs outgoing per service, an action each: `diff`), and its renderings
//! (JSON, the Markdown table, the GitHub Actions matrix: `render`), a leg's compare-and-swap
//! (`cas`) and the legs' audits folded into one release record (`merge`).

pub mod cas;
pub mod diff;
pub mod history;
pub mod ledger;
pub mod merge;
pub mod plan_file;
pub mod render;
pub mod rollback;
