//! Test support: real registries (harness), plus (later) a fault-injecting proxy and a token server.
#![allow(dead_code)]

pub mod harness;
