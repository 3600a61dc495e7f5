//! Releases of many services: the plan file (`plan_file`), the plan it gives against the
//! registries (incoming vs outgoing per service, an action each: `diff`), and its renderings
//! (JSON, the Markdown table, the GitHub Actions matrix: `render`).

pub mod cas;
pub mod diff;
pub mod plan_file;
pub mod render;
