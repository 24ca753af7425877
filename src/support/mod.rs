//! Leaf helpers used by every stage, each in a module named for its one job: durable file
//! writes and sibling paths ([`fs`]), stamps of time and user ([`stamp`]), hashing
//! ([`hash`]), and wording ([`text`]). Nothing here knows about Flex, plans or the CLI.

pub mod fs;
pub(crate) mod hash;
pub(crate) mod stamp;
pub(crate) mod text;
