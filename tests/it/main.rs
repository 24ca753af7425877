//! flexform as users run it: the one integration-test binary (`cargo test --test it`), a module
//! per area, every module on the one builder in [`common`] (`Test`). One binary means one link
//! and one compilation of `common`, instead of one per area (the layout of cargo's and
//! ripgrep's suites). Select an area by its module path: `cargo test --test it -- validate::`.
//!
//! Each test starts what it needs itself (the simulator in-process, a wiremock server, a
//! temporary project folder) on 127.0.0.1; PostgreSQL and tinyproxy come from the environment
//! (`scripts/components.sh`), and a test whose component is missing fails under `CI` and says
//! it was skipped elsewhere ([`common::unavailable`]).

mod common;

mod apply;
mod audit;
mod client;
mod client_plugins;
mod client_sim;
mod configuration;
#[cfg(feature = "failpoints")]
mod crash;
mod demo;
mod environment;
mod exports;
mod guards;
mod output;
mod pipelines;
mod plan;
mod plugins;
mod postgres;
mod readme;
mod s3;
mod schema;
mod sim;
mod sim_plugins;
mod terraform;
mod trail;
mod validate;
