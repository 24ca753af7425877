//! `flexform plan` and `flexform drift` as users run them, against wiremock and the in-process
//! simulator: every row of issue 4's table with the exit codes of `plan --detailed-exitcode` and
//! `drift` ([`table`]), proof that both are read-only (no POST, the state folder byte-for-byte
//! unchanged), corrupt and too-new state files and missing credentials ([`read_only`]), the
//! `--json` document decoded into typed structs and checked against the committed schema
//! ([`json`]), the human snapshots, Markdown and saved plans of a mixed estate ([`views`]), and
//! the 1,000-instance latency figure ([`latency`]). Every request goes to 127.0.0.1.

mod estate;
mod json;
mod latency;
mod read_only;
mod support;
mod table;
mod views;
