//! Whether an interrupted create may still be in flight: its pending record's window, read on
//! the clock it was written on.

use std::time::{Duration, SystemTime};

use crate::state::PendingCreate;

/// The in-flight window of a pending record written by an older flexform, which recorded only
/// when the create started: longer than the default request timeout, with a margin.
const LEGACY_IN_FLIGHT_WINDOW: Duration = Duration::from_secs(60);

/// Until when the create of `pending` may still be sent or processed: the time its record
/// gives (see [`PendingCreate::in_flight_until`]), or `started_at` plus 60 seconds.
fn in_flight_until(pending: &PendingCreate) -> Option<SystemTime> {
    match &pending.in_flight_until {
        Some(until) => humantime::parse_rfc3339(until).ok(),
        None => humantime::parse_rfc3339(&pending.started_at)
            .ok()
            .map(|started| started + LEGACY_IN_FLIGHT_WINDOW),
    }
}

/// What a reader allows for another machine's clock being ahead of its own.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(300);

/// The clocks a pending record's window can be compared with.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    /// This machine's.
    pub local: SystemTime,
    /// The one every reader of the state shares (the database's), if there is one.
    pub shared: Option<SystemTime>,
}

impl Clocks {
    /// This machine's clock now, and no shared one.
    pub fn local() -> Self {
        Self {
            local: SystemTime::now(),
            shared: None,
        }
    }

    /// "Now" on the clock `pending`'s window was written on; for a clock this reader cannot
    /// read (another machine's), this machine's minus the skew allowance, so that the window
    /// only closes once it has surely closed there too.
    fn now_for(&self, pending: &PendingCreate) -> SystemTime {
        let this_host = format!("host {}", crate::support::stamp::host());
        match (pending.clock.as_deref(), self.shared) {
            (None, _) => self.local,
            (Some("database"), Some(shared)) => shared,
            (Some(clock), _) if clock == this_host => self.local,
            _ => self
                .local
                .checked_sub(CLOCK_SKEW_ALLOWANCE)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

/// Whether the create of `pending` could still be in flight, on its own clock. An unreadable
/// time is taken as "yes": waiting is safe, creating again is not.
pub(crate) fn still_in_flight(pending: &PendingCreate, clocks: &Clocks) -> bool {
    let now = clocks.now_for(pending);
    in_flight_until(pending).is_none_or(|until| now < until)
}

/// Why "no instance" is not yet an answer for `pending`.
pub(crate) fn in_flight_message(pending: &PendingCreate) -> String {
    format!(
        "a create for {} started at {} may still be in flight at Twilio (until {}), so \"no instance\" is not yet an answer; run plan again after that (creating now could make a second instance)",
        pending.account_sid,
        pending.started_at,
        pending
            .in_flight_until
            .as_deref()
            .unwrap_or("a minute after it started")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountSid;

    fn pending(started_at: &str, in_flight_until: Option<&str>) -> PendingCreate {
        PendingCreate {
            account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            address: "flex_instance.a".into(),
            conversations_default: None,
            started_at: started_at.into(),
            in_flight_until: in_flight_until.map(str::to_owned),
            clock: None,
        }
    }

    fn at(s: &str) -> Clocks {
        Clocks {
            local: humantime::parse_rfc3339(s).unwrap(),
            shared: None,
        }
    }

    #[test]
    fn another_machines_clock_gets_a_skew_allowance_and_the_database_clock_none() {
        let mut p = pending("2026-01-01T00:00:00Z", Some("2026-01-01T00:01:00Z"));
        p.clock = Some("host some-other-runner".into());
        // Five minutes past the window on this clock: still in flight, the other may be ahead.
        assert!(still_in_flight(&p, &at("2026-01-01T00:05:59Z")));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:06:00Z")));
        p.clock = Some(format!("host {}", crate::support::stamp::host()));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:01:00Z")));
        // On the database's clock: compared with the database's time, not this machine's.
        p.clock = Some("database".into());
        let clocks = Clocks {
            local: humantime::parse_rfc3339("2030-01-01T00:00:00Z").unwrap(),
            shared: Some(humantime::parse_rfc3339("2026-01-01T00:00:30Z").unwrap()),
        };
        assert!(still_in_flight(&p, &clocks));
        let clocks = Clocks {
            local: humantime::parse_rfc3339("2020-01-01T00:00:00Z").unwrap(),
            shared: Some(humantime::parse_rfc3339("2026-01-01T00:01:00Z").unwrap()),
        };
        assert!(!still_in_flight(&p, &clocks));
    }

    #[test]
    fn the_window_is_the_recorded_one_or_a_minute_after_the_start() {
        // Recorded: the end of the send window plus the request timeout, whenever it started.
        let p = pending("2026-01-01T00:00:00Z", Some("2026-01-01T00:05:00Z"));
        assert!(still_in_flight(&p, &at("2026-01-01T00:04:59Z")));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:05:00Z")));
        // An older record: a minute after it started.
        let p = pending("2026-01-01T00:00:00Z", None);
        assert!(still_in_flight(&p, &at("2026-01-01T00:00:59Z")));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:01:00Z")));
        // Unreadable: still in flight, whatever the time.
        let p = pending("garbage", None);
        assert!(still_in_flight(&p, &at("2030-01-01T00:00:00Z")));
        let p = pending("2026-01-01T00:00:00Z", Some("garbage"));
        assert!(still_in_flight(&p, &at("2030-01-01T00:00:00Z")));
    }
}
