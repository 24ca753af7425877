//! flexform: a Terraform-style reconciler for Twilio Flex instances.
//!
//! The pipeline: load the desired state ([`config`]), observe what exists, decide with a pure
//! planner, then act, recording every SID in a crash-safe state file.

pub mod app;
pub mod apply;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod config_error;
pub mod credentials;
pub mod exit_status;
pub mod fs_util;
pub mod history;
pub mod local_store;
pub mod lock;
pub mod observe;
pub mod pg_store;
pub mod plan;
pub mod plan_document;
pub mod planning;
pub mod progress;
pub mod render;
pub mod secret;
pub mod settings;
pub mod sid;
pub mod sim;
pub mod state;
pub mod state_error;
pub mod state_store;
pub mod stdout;
pub mod util;
