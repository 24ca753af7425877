//! Leaf helpers used by every stage, each in a module named for its one job: durable file
//! writes and sibling paths ([`fs`]), the process environment as a value ([`env`]), stamps of time and user ([`stamp`]), hashing
//! ([`hash`]), wording and the escaping of exported CSV and Markdown cells ([`text`]) and stop
//! requests ([`stop`]). Nothing here knows about Flex, plans or the CLI.

pub mod env;
pub mod fs;
pub(crate) mod hash;
pub(crate) mod stamp;
pub(crate) mod stop;
pub(crate) mod text;
pub(crate) mod tls;

/// A named crash point (the `fail` crate, as in TiKV). Built with the `failpoints` feature, a
/// test names points in `FAILPOINTS` (`apply::after_pending_durable=panic`) and the process
/// dies right there (see `cli::main`: a panic then aborts the process, as a crash would).
/// Without the feature it is nothing at all. `failpoint!("name", if cond)` is a point only
/// where `cond` holds (e.g. only for a POST in code that GETs share).
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name);
    };
    ($name:literal, if $cond:expr) => {
        #[cfg(feature = "failpoints")]
        {
            if $cond {
                fail::fail_point!($name);
            }
        }
    };
}
