//! A trigger's definition (SPEC §5.1), parsed from the create body: every field checked, every template and
//! predicate compiled, limits enforced, errors naming the field (`predicates[2].value`, `target.url`).
//!
//! [`Definition::normalized`] is the definition as stored and shown: defaults filled in, the webhook secret left
//! out (it is returned once, at create, and kept apart).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::predicate::{Predicate, compile_all};
use super::retry::RetryPolicy;
use super::signature::WebhookSecret;
use super::template::{Template, scope};
use super::throttle::Throttle;
use crate::domain::{NameKind, NamePattern, ValidationError};

/// The longest `name`, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The longest webhook timeout.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// The default webhook timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The largest `maxConcurrency`.
pub const MAX_CONCURRENCY: u64 = 1_000;
/// The default run key of a workflow target.
pub const DEFAULT_RUN_KEY: &str = "{{ trigger.id }}-{{ event.id }}";

const FIELDS: [&str; 15] = [
    "name",
    "description",
    "eventType",
    "eventSource",
    "predicates",
    "target",
    "parameterTemplate",
    "idempotencyKey",
    "runKeyTemplate",
    "throttle",
    "maxConcurrency",
    "retry",
    "status",
    "sampleEvent",
    "secret",
];

/// What a definition may not do, from the deployment's configuration (SPEC §10).
#[derive(Debug, Clone)]
pub struct DefinitionRules {
    /// `HERALD_WORKFLOW_STREAM`: a workflow target's default stream.
    pub workflow_stream: String,
    /// `HERALD_WORKFLOW_STREAM_PREFIX`: every workflow stream starts with it.
    pub workflow_stream_prefix: String,
    /// `HERALD_EVENT_STREAM`: never a workflow target.
    pub ingress_stream: String,
}

/// Where deliveries go.
#[derive(Debug, Clone)]
pub enum Target {
    /// HTTP POST to `url`.
    Webhook {
        /// http or https.
        url: reqwest::Url,
        /// Extra request headers (values never shown after create).
        headers: Vec<(String, String)>,
        /// Per-attempt timeout, ms.
        timeout_ms: u64,
        /// The request body template (default: SPEC §5.5's payload).
        body: Option<Template>,
    },
    /// A run request on a Redis stream.
    Workflow {
        /// The workflow to run.
        workflow_slug: String,
        /// The stream the request goes to.
        stream: String,
        /// The run key template.
        run_key: Template,
    },
}

/// A parsed, compiled trigger definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The `eventType` selector.
    pub event_type: NamePattern,
    /// The `eventSource` selector (`None`: any source).
    pub event_source: Option<NamePattern>,
    /// All must hold.
    pub predicates: Vec<Predicate>,
    /// Where deliveries go.
    pub target: Target,
    /// `parameterTemplate`.
    pub parameters: Option<Template>,
    /// `idempotencyKey`.
    pub idempotency_key: Option<Template>,
    /// `throttle`.
    pub throttle: Option<Throttle>,
    /// `maxConcurrency`.
    pub max_concurrency: Option<u32>,
    /// `retry`, defaults filled in.
    pub retry: RetryPolicy,
    /// `status == "active"`.
    pub active: bool,
    /// The definition as stored and shown: defaults filled in, no secret.
    pub normalized: Value,
}

/// A parsed definition and the webhook secret (given or generated) to return once.
#[derive(Debug)]
pub struct Parsed {
    /// The definition.
    pub definition: Definition,
    /// The webhook's secret; `None` for a workflow target.
    pub secret: Option<WebhookSecret>,
}

impl Definition {
    /// Parses a create body. `generate_secret` is called when a webhook target has none; `now` is the `now` of
    /// the `sampleEvent` check.
    ///
    /// # Errors
    /// The first rule broken, naming its field (module docs).
    pub fn parse(
        body: &Value,
        rules: &DefinitionRules,
        generate_secret: impl FnOnce() -> WebhookSecret,
        now: DateTime<Utc>,
    ) -> Result<Parsed, ValidationError> {
        let Value::Object(fields) = body else {
            return Err(ValidationError::invalid_json(
                "a trigger definition must be a JSON object",
            ));
        };
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ValidationError::unknown(unknown.clone()));
        }
        if fields.contains_key("secret") {
            return Err(ValidationError::invalid(
                "secret",
                "belongs inside `target` (`target.secret`)",
            ));
        }
        let name = text(fields, "name", MAX_NAME_CHARS)?
            .ok_or_else(|| ValidationError::missing("name"))?;
        let description = text(fields, "description", MAX_DESCRIPTION_CHARS)?;
        let event_type = NamePattern::parse(
            &text(fields, "eventType", 200)?
                .ok_or_else(|| ValidationError::missing("eventType"))?,
            NameKind::Type,
            "eventType",
        )?;
        let event_source = text(fields, "eventSource", 200)?
            .map(|s| NamePattern::parse(&s, NameKind::Source, "eventSource"))
            .transpose()?;
        let predicates = compile_all(fields.get("predicates"))?;
        let parameters = present(fields, "parameterTemplate")
            .map(|v| Template::compile("parameterTemplate", v))
            .transpose()?;
        let idempotency_key = match present(fields, "idempotencyKey") {
            None => None,
            Some(Value::String(s)) => Some(Template::compile(
                "idempotencyKey",
                &Value::String(s.clone()),
            )?),
            Some(_) => {
                return Err(ValidationError::invalid(
                    "idempotencyKey",
                    "must be a template string",
                ));
            }
        };
        let throttle = match present(fields, "throttle") {
            None => None,
            Some(Value::Object(t)) => {
                known(t, "throttle", &["windowMs", "count"])?;
                Some(Throttle::new(
                    integer(t, "throttle", "windowMs")?
                        .ok_or_else(|| ValidationError::missing("throttle.windowMs"))?,
                    u32::try_from(
                        integer(t, "throttle", "count")?
                            .ok_or_else(|| ValidationError::missing("throttle.count"))?,
                    )
                    .unwrap_or(u32::MAX),
                )?)
            }
            Some(_) => {
                return Err(ValidationError::invalid(
                    "throttle",
                    "must be an object {windowMs, count}",
                ));
            }
        };
        let max_concurrency = match present(fields, "maxConcurrency") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=MAX_CONCURRENCY).contains(&n) => Some(n as u32),
                _ => {
                    return Err(ValidationError::invalid(
                        "maxConcurrency",
                        format!("must be an integer between 1 and {MAX_CONCURRENCY}"),
                    ));
                }
            },
        };
        let retry = parse_retry(present(fields, "retry"))?;
        let active = match present(fields, "status").map(Value::as_str) {
            None | Some(Some("active")) => true,
            Some(Some("disabled")) => false,
            Some(_) => {
                return Err(ValidationError::invalid(
                    "status",
                    "must be `active` or `disabled`",
                ));
            }
        };
        let target_body =
            present(fields, "target").ok_or_else(|| ValidationError::missing("target"))?;
        let (target, secret) = parse_target(target_body, fields, rules, generate_secret)?;

        let mut normalized = body.clone();
        if let Value::Object(n) = &mut normalized {
            n.remove("sampleEvent");
            n.insert(
                "status".into(),
                json!(if active { "active" } else { "disabled" }),
            );
            n.insert(
                "predicates".into(),
                fields.get("predicates").cloned().unwrap_or(json!([])),
            );
            n.insert("retry".into(), retry_json(&retry, present(fields, "retry")));
            if let Some(Value::Object(t)) = n.get_mut("target") {
                t.remove("secret");
                if let Target::Webhook { timeout_ms, .. } = &target {
                    t.insert("timeoutMs".into(), json!(timeout_ms));
                }
                if let Target::Workflow { stream, .. } = &target {
                    t.insert("stream".into(), json!(stream));
                }
            }
            if matches!(target, Target::Workflow { .. }) && !n.contains_key("runKeyTemplate") {
                n.insert("runKeyTemplate".into(), json!(DEFAULT_RUN_KEY));
            }
        }
        let definition = Definition {
            name,
            description,
            event_type,
            event_source,
            predicates,
            target,
            parameters,
            idempotency_key,
            throttle,
            max_concurrency,
            retry,
            active,
            normalized,
        };
        if let Some(sample) = present(fields, "sampleEvent") {
            definition.check_templates(sample, now)?;
        }
        Ok(Parsed { definition, secret })
    }

    /// Applies a PATCH body to a stored definition (`current`, as [`Definition::normalized`]) and parses the
    /// result with every rule of a create. Each top-level field given replaces the stored one whole (`target`
    /// included); `null` removes an optional field. A webhook keeps `current_secret` unless the new `target`
    /// carries a `secret`.
    ///
    /// # Errors
    /// `invalid_field` on `body` for an empty patch or one that is not an object; otherwise as
    /// [`Definition::parse`].
    pub fn patch(
        current: &Value,
        patch: &Value,
        rules: &DefinitionRules,
        current_secret: Option<WebhookSecret>,
        generate_secret: impl FnOnce() -> WebhookSecret,
        now: DateTime<Utc>,
    ) -> Result<Parsed, ValidationError> {
        let Value::Object(changes) = patch else {
            return Err(ValidationError::invalid(
                "body",
                "must be a JSON object of the fields to change",
            ));
        };
        if changes.is_empty() {
            return Err(ValidationError::invalid(
                "body",
                "must change at least one field",
            ));
        }
        let mut merged = current.clone();
        if let Value::Object(fields) = &mut merged {
            for (key, value) in changes {
                if value.is_null() {
                    fields.remove(key);
                } else {
                    fields.insert(key.clone(), value.clone());
                }
            }
        }
        Definition::parse(
            &merged,
            rules,
            || current_secret.unwrap_or_else(generate_secret),
            now,
        )
    }

    /// Renders every template against `sample` (a `sampleEvent`), refusing one that finds nothing.
    fn check_templates(&self, sample: &Value, now: DateTime<Utc>) -> Result<(), ValidationError> {
        if !sample.is_object() {
            return Err(ValidationError::invalid(
                "sampleEvent",
                "must be an event envelope object",
            ));
        }
        let trigger = json!({"id": "sample", "name": self.name, "version": 1});
        let scope = scope(sample, &trigger, now);
        let templates = [
            self.parameters.as_ref(),
            self.idempotency_key.as_ref(),
            match &self.target {
                Target::Webhook { body, .. } => body.as_ref(),
                Target::Workflow { run_key, .. } => Some(run_key),
            },
        ];
        for template in templates.into_iter().flatten() {
            template.check(&scope)?;
        }
        Ok(())
    }
}

fn parse_target(
    target: &Value,
    fields: &Map<String, Value>,
    rules: &DefinitionRules,
    generate_secret: impl FnOnce() -> WebhookSecret,
) -> Result<(Target, Option<WebhookSecret>), ValidationError> {
    let Value::Object(t) = target else {
        return Err(ValidationError::invalid(
            "target",
            "must be an object with `kind`",
        ));
    };
    match t.get("kind").and_then(Value::as_str) {
        Some("webhook") => {
            known(
                t,
                "target",
                &["kind", "url", "headers", "timeoutMs", "secret", "body"],
            )?;
            let url_text = string_in(t, "target", "url")?
                .ok_or_else(|| ValidationError::missing("target.url"))?;
            let url = reqwest::Url::parse(&url_text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    ValidationError::invalid("target.url", "must be an http or https URL")
                })?;
            let headers = match t.get("headers") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(h)) => h
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.clone(), s.clone())),
                        _ => Err(ValidationError::invalid(
                            format!("target.headers.{k}"),
                            "must be a string",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(ValidationError::invalid(
                        "target.headers",
                        "must be an object of strings",
                    ));
                }
            };
            let timeout_ms = match integer(t, "target", "timeoutMs")? {
                None => DEFAULT_TIMEOUT_MS,
                Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => ms,
                Some(_) => {
                    return Err(ValidationError::invalid(
                        "target.timeoutMs",
                        format!("must be between 1 and {MAX_TIMEOUT_MS}"),
                    ));
                }
            };
            let body = present(t, "body")
                .map(|b| Template::compile("target.body", b))
                .transpose()?;
            let secret = match string_in(t, "target", "secret")? {
                Some(text) => WebhookSecret::parse(&text)?,
                None => generate_secret(),
            };
            Ok((
                Target::Webhook {
                    url,
                    headers,
                    timeout_ms,
                    body,
                },
                Some(secret),
            ))
        }
        Some("workflow") => {
            known(t, "target", &["kind", "workflowSlug", "stream"])?;
            let workflow_slug = string_in(t, "target", "workflowSlug")?
                .ok_or_else(|| ValidationError::missing("target.workflowSlug"))?;
            let stream =
                string_in(t, "target", "stream")?.unwrap_or_else(|| rules.workflow_stream.clone());
            if !stream.starts_with(&rules.workflow_stream_prefix) || stream == rules.ingress_stream
            {
                return Err(ValidationError::invalid(
                    "target.stream",
                    format!(
                        "must start with `{}` and not be the ingress stream",
                        rules.workflow_stream_prefix
                    ),
                ));
            }
            let run_key_text = match present(fields, "runKeyTemplate") {
                None => DEFAULT_RUN_KEY.to_owned(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(ValidationError::invalid(
                        "runKeyTemplate",
                        "must be a template string",
                    ));
                }
            };
            let run_key = Template::compile("runKeyTemplate", &Value::String(run_key_text))?;
            Ok((
                Target::Workflow {
                    workflow_slug,
                    stream,
                    run_key,
                },
                None,
            ))
        }
        _ => Err(ValidationError::invalid(
            "target.kind",
            "must be `webhook` or `workflow`",
        )),
    }
}

fn parse_retry(retry: Option<&Value>) -> Result<RetryPolicy, ValidationError> {
    let defaults = RetryPolicy::default();
    let Some(retry) = retry else {
        return Ok(defaults);
    };
    let Value::Object(r) = retry else {
        return Err(ValidationError::invalid("retry", "must be an object"));
    };
    known(
        r,
        "retry",
        &["maxAttempts", "initialDelayMs", "multiplier", "maxDelayMs"],
    )?;
    let multiplier = match present(r, "multiplier") {
        None => 2.0,
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ValidationError::invalid("retry.multiplier", "must be a number"))?,
    };
    RetryPolicy::new(
        integer(r, "retry", "maxAttempts")?.map_or(defaults.max_attempts(), |n| {
            u32::try_from(n).unwrap_or(u32::MAX)
        }),
        integer(r, "retry", "initialDelayMs")?.unwrap_or(1_000),
        multiplier,
        integer(r, "retry", "maxDelayMs")?.unwrap_or(60_000),
    )
}

fn retry_json(policy: &RetryPolicy, given: Option<&Value>) -> Value {
    let mut out = json!({"maxAttempts": policy.max_attempts(), "initialDelayMs": 1000, "multiplier": 2, "maxDelayMs": 60000});
    if let (Some(Value::Object(given)), Value::Object(o)) = (given, &mut out) {
        for (k, v) in given {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

fn present<'v>(fields: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    fields.get(key).filter(|v| !v.is_null())
}

fn known(object: &Map<String, Value>, prefix: &str, keys: &[&str]) -> Result<(), ValidationError> {
    match object.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(unknown) => Err(ValidationError::unknown(format!("{prefix}.{unknown}"))),
        None => Ok(()),
    }
}

fn text(
    fields: &Map<String, Value>,
    key: &str,
    max_chars: usize,
) -> Result<Option<String>, ValidationError> {
    match present(fields, key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max_chars => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ValidationError::invalid(
            key,
            format!("must be a non-blank string of at most {max_chars} characters"),
        )),
    }
}

fn string_in(
    object: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<String>, ValidationError> {
    match present(object, key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ValidationError::invalid(
            format!("{prefix}.{key}"),
            "must be a non-empty string",
        )),
    }
}

fn integer(
    object: &Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<u64>, ValidationError> {
    match present(object, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ValidationError::invalid(format!("{prefix}.{key}"), "must be a non-negative integer")
        }),
    }
}

#[cfg(test)]
mod tests;
