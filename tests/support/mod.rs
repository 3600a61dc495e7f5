//! Test support for image-promote: the real registries of the harness ([`harness`]), a
//! fault-injecting HTTP proxy in front of a real registry ([`proxy`]), a registry behind Docker
//! token auth ([`token`]), small Distribution-API helpers ([`oci`]) and cosign ([`cosign`]).
//! Included with `mod support;`.

// Each test crate uses a different subset of these helpers, and panicking on setup
// failures is the point in test support code.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cosign;
pub mod harness;
pub mod http1;
pub mod jwt;
pub mod oci;
pub mod proxy;
pub mod signing;
pub mod token;
