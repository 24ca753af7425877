//! Apply: carry out a plan, and only what it says.
//!
//! [`execute`] runs the plan's changes concurrently ([`engine`]): an adopt records a
//! discovered SID; a create records a durable pending-create first, then sends exactly one
//! POST, then records the SID. Every state change goes through one writer task that records in
//! groups ([`writer`]). New instances are polled until they settle ([`wait`]). What happens is
//! reported as typed [`Event`]s ([`events`]) and summed up in an [`ApplyReport`] ([`outcome`]).
//! A ready instance's planned plugins release is made last ([`release`]). What apply is given
//! besides the plan is in [`context`].

mod context;
mod engine;
mod events;
mod outcome;
mod release;
mod wait;
mod writer;

pub use context::{ApplyContext, ApplyOptions};
pub use engine::{execute, records};
pub use events::{Event, Reporter};
pub use outcome::{ApplyError, ApplyReport, ChangeOutcome, Counts, Provisioning};
