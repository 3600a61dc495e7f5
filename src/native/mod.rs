//! What only a native build has: signals and subprocesses. A WASI build leaves these out (the
//! interruption flag they set stays in [`crate::runtime`]).

pub mod process;
pub mod signals;
