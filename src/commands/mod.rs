//! One module per subcommand: each resolves its inputs, calls the library, and prints.

pub mod schema;
pub mod validate;
