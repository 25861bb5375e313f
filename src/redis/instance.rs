//! [`InstanceId`]: who this running Herald is, to Redis and to the database.

use std::fmt;

/// This instance's id, `<host>-<pid>-<ulid>`: the stream consumer name, the tag on its live relay messages and the
/// holder of the inline lease. The host and pid tell an operator which process it is (and let a restart on the
/// same host see that a lease holder's process is gone); the ULID keeps two starts of one process, or two
/// applications in one test process, apart, so a restarted instance never mistakes a dead one's pending entries
/// or relay messages for its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// A fresh id for this process: its host name (`herald` when it cannot be read), its pid and a new ULID.
    pub fn generate() -> InstanceId {
        let host = this_host();
        InstanceId(format!(
            "{host}-{}-{}",
            std::process::id(),
            ulid::Ulid::generate()
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host and pid of an id written by [`InstanceId::generate`] (or by earlier versions, which separated
    /// them with `:`); `None` for anything else. Host names may hold `-`, pids and ULIDs never do, so the id is
    /// split from the right.
    pub fn host_and_pid(id: &str) -> Option<(&str, u32)> {
        let mut parts = id.rsplitn(3, ['-', ':']);
        let (_ulid, pid, host) = (parts.next()?, parts.next()?, parts.next()?);
        Some((host, pid.parse().ok()?))
    }

    /// Whether `id` names another process on this host that no longer runs: such a holder died without releasing
    /// what it held (the inline lease), so a restart after a crash need not wait for it to lapse. `false` when it
    /// cannot be told (another host, no procfs, an id of another form).
    pub fn is_dead_process_here(id: &str) -> bool {
        if !std::path::Path::new("/proc/self").exists() {
            return false; // No procfs: wait for the lease to lapse.
        }
        match InstanceId::host_and_pid(id) {
            Some((host, pid)) if host == this_host() => {
                pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            }
            _ => false,
        }
    }
}

/// This machine's host name, as [`InstanceId`] writes it.
fn this_host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "herald".into())
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for InstanceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_names_this_host_and_process() {
        let id = InstanceId::generate();
        let (host, pid) = InstanceId::host_and_pid(id.as_str()).expect("parses");
        assert_eq!(host, this_host());
        assert_eq!(pid, std::process::id());
    }

    #[test]
    fn two_ids_of_one_process_differ() {
        assert_ne!(InstanceId::generate(), InstanceId::generate());
    }

    #[test]
    fn host_names_with_dashes_and_the_old_colon_form_both_parse() {
        assert_eq!(
            InstanceId::host_and_pid("web-1-42-01JC0000000000000000000000"),
            Some(("web-1", 42))
        );
        assert_eq!(
            InstanceId::host_and_pid("web-1:42:01JC0000000000000000000000"),
            Some(("web-1", 42))
        );
        assert_eq!(InstanceId::host_and_pid("nonsense"), None);
        assert_eq!(InstanceId::host_and_pid("a-b-c"), None);
    }

    #[test]
    fn only_a_gone_process_on_this_host_is_dead() {
        let me = InstanceId::generate();
        assert!(!InstanceId::is_dead_process_here(me.as_str()));
        assert!(!InstanceId::is_dead_process_here(
            "elsewhere.example-1-01JC0000000000000000000000"
        ));
        if std::path::Path::new("/proc/self").exists() {
            // Pids are below 2^22 on Linux: u32::MAX never runs.
            let gone = format!("{}-{}-01JC0000000000000000000000", this_host(), u32::MAX);
            assert!(InstanceId::is_dead_process_here(&gone));
        }
    }
}
