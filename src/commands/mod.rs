//! One module per subcommand: each resolves its inputs, calls the library, and prints.

pub mod apply;
pub mod demo;
pub mod drift;
pub mod import;
pub mod plan;
pub mod schema;
pub mod show;
pub mod sim;
pub mod state;
pub mod validate;
