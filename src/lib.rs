//! flexform: a Terraform-style reconciler for Twilio Flex instances.
//!
//! The pipeline, one module tree per stage (see ARCHITECTURE.md for the map):
//!
//! 1. [`config`]: load and validate the desired state (`flexform.yaml`); resolve credentials.
//! 2. [`state`]: read what flexform recorded (a local file with its journal, or PostgreSQL).
//! 3. [`plan`]: observe every instance through the [`client`] (async, concurrent, complete
//!    before anything is decided), then decide with the pure [`plan::plan`] function.
//! 4. [`apply`]: carry out exactly what the plan says, recording a durable pending-create
//!    before every POST and every SID right after its answer.
//! 5. [`cli`]: the command line around it all, the only code that knows clap and the terminal.
//!
//! [`sim`] is a local simulator of the Flex API for tests, the demo and offline use;
//! [`support`] holds the leaf helpers every stage shares (its public part is
//! [`support::fs::write_atomic`], which tests use to write a state as flexform would).
//!
//! The public surface is what the binary, the tests and the benchmarks use: the stage
//! modules' entry points and types, re-exported at each module's top.

pub mod apply;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod observe;
pub mod ops;
pub mod plan;
pub mod render;
pub mod sim;
pub mod state;
pub mod support;

#[cfg(test)]
mod architecture;
