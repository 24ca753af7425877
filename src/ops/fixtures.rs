//! Values the operations' unit tests are made of: SIDs by number, records, a state.

use crate::domain::sid::{AccountSid, InstanceSid};
use crate::domain::InstanceStatus;
use crate::state::{InstanceRecord, Origin, PendingCreate};

/// Account SID number `n`.
pub fn account(n: u32) -> AccountSid {
    AccountSid::parse(&format!("AC{n:032x}")).unwrap()
}

/// Instance SID number `n`.
pub fn instance(n: u32) -> InstanceSid {
    InstanceSid::parse(&format!("GO{n:032x}")).unwrap()
}

/// A ready instance `instance_n` on account `account_n`, created by flexform.
pub fn record(account_n: u32, instance_n: u32) -> InstanceRecord {
    InstanceRecord {
        account_sid: account(account_n),
        conversations_default: None,
        date_created: None,
        date_updated: None,
        flex_instance_sid: instance(instance_n),
        observed_at: None,
        origin: Origin::Created,
        status: InstanceStatus::Ready,
        configuration: None,
        plugins: None,
    }
}

/// An interrupted create of `name` on account `account_n`.
pub fn pending(name: &str, account_n: u32) -> PendingCreate {
    PendingCreate {
        account_sid: account(account_n),
        address: format!("flex_instance.{name}"),
        conversations_default: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        in_flight_until: None,
        clock: None,
    }
}
