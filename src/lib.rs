//! flexform: a Terraform-style reconciler for Twilio Flex instances.
//!
//! The pipeline: load the desired state ([`config`]), observe what exists, decide with a pure
//! planner, then act, recording every SID in a crash-safe state file.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_error;
pub mod exit_status;
pub mod settings;
pub mod sid;
pub mod util;
