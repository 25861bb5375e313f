//! The W3C trace context an event carries, so the span of the ingest batch that stores it links back to the
//! publisher's trace.
//!
//! SPEC §1 has no field for it, so it travels in metadata, where tracing-aware publishers already put routing
//! hints: `metadata.traceparent`, or `metadata.cloudEvents.traceparent` (the CloudEvents distributed-tracing
//! extension, which the HTTP ingress files under `metadata.cloudEvents`). A batch holds events of many traces, so
//! each one becomes a span *link* of the batch span rather than its parent.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use serde_json::{Map, Value};

/// The metadata key (and CloudEvents extension) that carries the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";

/// Most links put on one batch span: the OpenTelemetry SDK's default limit per span, beyond which it drops them.
pub const MAX_SPAN_LINKS: usize = 128;

/// Parses a W3C `traceparent` (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`) into a remote span
/// context; `None` for anything malformed, all-zero ids, or the forbidden version `ff`.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !is_hex(version, 2) || version == "ff" || !is_hex(trace_id, 32) || !is_hex(span_id, 16) {
        return None;
    }
    // Version 00 has exactly four fields; later versions may append more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if !is_hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

/// The span context of an event's metadata, if it carries a valid `traceparent`.
pub fn from_metadata(metadata: Option<&Map<String, Value>>) -> Option<SpanContext> {
    let metadata = metadata?;
    let value = metadata.get(TRACEPARENT).or_else(|| {
        metadata
            .get("cloudEvents")
            .and_then(|ce| ce.get(TRACEPARENT))
    })?;
    parse_traceparent(value.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_becomes_a_sampled_remote_context() {
        let context = parse_traceparent(VALID).expect("valid");
        assert_eq!(
            context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(context.is_sampled());
        assert!(context.is_remote());
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_carries_it_at_the_top_or_as_a_cloud_events_extension() {
        let top = json!({ "traceparent": VALID });
        let ce = json!({ "cloudEvents": { "traceparent": VALID } });
        let none = json!({ "traceparent": 42 });
        assert!(from_metadata(top.as_object()).is_some());
        assert!(from_metadata(ce.as_object()).is_some());
        assert!(from_metadata(none.as_object()).is_none());
        assert!(from_metadata(None).is_none());
    }
}
