//! One module per subcommand: each resolves its inputs, calls the library, and prints through
//! the output layer.

pub(crate) mod apply;
pub(crate) mod demo;
pub(crate) mod drift;
pub(crate) mod history;
pub(crate) mod import;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod schema;
pub(crate) mod show;
pub(crate) mod sim;
pub(crate) mod state;
pub(crate) mod validate;
