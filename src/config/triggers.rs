//! The trigger settings of SPEC §11: the auto-pause thresholds (§5.7), the webhook address allow list (§10) and
//! the workflow target streams (§5.1, §10). Checked at start-up like every other key, so a typo stops Herald with
//! the variable's name instead of being ignored.

use chrono::TimeDelta;

use super::{ConfigError, EventsMode, int, invalid, non_empty};
use crate::trigger::{AddressPolicy, DefinitionRules, PauseConfig};

/// Default `HERALD_WORKFLOW_STREAM`.
pub const DEFAULT_WORKFLOW_STREAM: &str = "herald:workflow-runs";
/// Default `HERALD_WORKFLOW_STREAM_PREFIX`.
pub const DEFAULT_WORKFLOW_STREAM_PREFIX: &str = "herald:workflow";

/// Trigger settings.
#[derive(Debug, Clone)]
pub struct TriggerSettings {
    /// `EVENT_TRIGGER_ERROR_THRESHOLD`, `EVENT_TRIGGER_ERROR_WINDOW_MS`, `EVENT_TRIGGER_PAUSE_MS`.
    pub pause: PauseConfig,
    /// `HERALD_WEBHOOK_ALLOW_CIDRS` (default: loopback in inline mode, nothing otherwise).
    pub webhook_addresses: AddressPolicy,
    /// `HERALD_WORKFLOW_STREAM`, `HERALD_WORKFLOW_STREAM_PREFIX` and the ingress stream, as definitions need them.
    pub definition_rules: DefinitionRules,
}

/// Reads the trigger settings; `event_stream` is the ingress stream a workflow stream may never be.
pub(super) fn parse(
    get: &impl Fn(&str) -> Option<String>,
    events_mode: EventsMode,
    event_stream: &str,
) -> Result<TriggerSettings, ConfigError> {
    let ms = |name: &str, default: u64| -> Result<TimeDelta, ConfigError> {
        // The range keeps it far inside i64 milliseconds.
        Ok(TimeDelta::milliseconds(
            int(get, name, default, 1_000, 86_400_000)? as i64,
        ))
    };
    let pause = PauseConfig {
        threshold: int(get, "EVENT_TRIGGER_ERROR_THRESHOLD", 5, 1, 1_000)? as u32,
        window: ms("EVENT_TRIGGER_ERROR_WINDOW_MS", 300_000)?,
        hold: ms("EVENT_TRIGGER_PAUSE_MS", 300_000)?,
    };
    let webhook_addresses = match get("HERALD_WEBHOOK_ALLOW_CIDRS") {
        None => AddressPolicy::default_for(events_mode == EventsMode::Inline),
        Some(list) => AddressPolicy::parse(&list)
            .map_err(|message| invalid("HERALD_WEBHOOK_ALLOW_CIDRS", &message))?,
    };
    let prefix = non_empty(
        get,
        "HERALD_WORKFLOW_STREAM_PREFIX",
        DEFAULT_WORKFLOW_STREAM_PREFIX,
    );
    let workflow_stream = non_empty(get, "HERALD_WORKFLOW_STREAM", DEFAULT_WORKFLOW_STREAM);
    if !workflow_stream.starts_with(&prefix) || workflow_stream == event_stream {
        return Err(invalid(
            "HERALD_WORKFLOW_STREAM",
            &format!(
                "{workflow_stream:?} must start with {prefix:?} and differ from the event stream {event_stream:?}"
            ),
        ));
    }
    Ok(TriggerSettings {
        pause,
        webhook_addresses,
        definition_rules: DefinitionRules {
            workflow_stream,
            workflow_stream_prefix: prefix,
            ingress_stream: event_stream.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::Settings;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        Settings::from_sources(None, |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn defaults_follow_spec() {
        let triggers = settings(&[]).unwrap().triggers;
        assert_eq!(triggers.pause, crate::trigger::PauseConfig::default());
        assert_eq!(
            triggers.definition_rules.workflow_stream,
            "herald:workflow-runs"
        );
        assert_eq!(triggers.definition_rules.ingress_stream, "herald:events");
        // Inline mode (no REDIS_URL) lets webhooks reach loopback; redis mode does not.
        assert!(triggers.webhook_addresses.check(ip("127.0.0.1")).is_ok());
        let redis = settings(&[("REDIS_URL", "redis://127.0.0.1:6379")])
            .unwrap()
            .triggers;
        assert!(redis.webhook_addresses.check(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn values_are_read() {
        let triggers = settings(&[
            ("EVENT_TRIGGER_ERROR_THRESHOLD", "3"),
            ("EVENT_TRIGGER_ERROR_WINDOW_MS", "60000"),
            ("EVENT_TRIGGER_PAUSE_MS", "120000"),
            ("HERALD_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/8"),
            ("HERALD_WORKFLOW_STREAM_PREFIX", "jobs:"),
            ("HERALD_WORKFLOW_STREAM", "jobs:runs"),
        ])
        .unwrap()
        .triggers;
        assert_eq!(triggers.pause.threshold, 3);
        assert_eq!(triggers.pause.window.num_milliseconds(), 60_000);
        assert_eq!(triggers.pause.hold.num_milliseconds(), 120_000);
        assert!(triggers.webhook_addresses.check(ip("10.1.1.1")).is_ok());
        assert!(triggers.webhook_addresses.check(ip("127.0.0.1")).is_err());
        assert_eq!(triggers.definition_rules.workflow_stream_prefix, "jobs:");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("EVENT_TRIGGER_ERROR_THRESHOLD", "0"),
            ("EVENT_TRIGGER_ERROR_THRESHOLD", "five"),
            ("EVENT_TRIGGER_ERROR_WINDOW_MS", "10"),
            ("EVENT_TRIGGER_PAUSE_MS", "999999999999"),
            ("HERALD_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/8,intranet"),
            ("HERALD_WORKFLOW_STREAM", "other:runs"),
            ("HERALD_WORKFLOW_STREAM", "herald:events"),
        ] {
            let message = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(name), "{name}={value}: {message}");
        }
        let message = settings(&[
            ("HERALD_WORKFLOW_STREAM_PREFIX", "herald:"),
            ("HERALD_WORKFLOW_STREAM", "herald:events"),
        ])
        .unwrap_err()
        .to_string();
        assert!(message.contains("HERALD_WORKFLOW_STREAM"), "{message}");
    }
}
