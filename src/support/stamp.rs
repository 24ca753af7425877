//! Stamps for records people read later (lock info, the audit trail, plans): when, and who.

/// The current time as RFC 3339 UTC with seconds, e.g. `2026-11-24T04:03:58Z`.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The time `after` from now, as RFC 3339 UTC, rounded up to the next second.
pub(crate) fn rfc3339_in(after: std::time::Duration) -> String {
    rfc3339_at(std::time::SystemTime::now() + after)
}

/// `at` as RFC 3339 UTC, rounded up to the next second.
pub(crate) fn rfc3339_at(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at + std::time::Duration::from_millis(999)).to_string()
}

/// This machine's name, as pending records name their clock.
pub(crate) fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// `user@host` of whoever runs this process (`$USER`, `$LOGNAME` or `$USERNAME` of `env`, else
/// the system's account database), for lock info and the audit trail.
pub(crate) fn who(env: &crate::support::env::Env) -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|var| env.non_empty(var))
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{user}@{}", host())
}

/// The name of this process's user from /etc/passwd (containers and CI runners often leave
/// `$USER` unset).
#[cfg(unix)]
fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid).then(|| name.to_owned())
    })
}

#[cfg(not(unix))]
fn user_from_passwd() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn the_user_is_found_without_environment_variables() {
        // Every Linux machine this runs on has an /etc/passwd entry for the test's user: the
        // one whose uid owns this process.
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        let name = super::user_from_passwd().expect("a passwd entry");
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        assert!(
            passwd.lines().any(|l| l.starts_with(&format!("{name}:"))
                && l.split(':').nth(2) == Some(&uid.to_string())),
            "{name} is not uid {uid}"
        );
    }
}
