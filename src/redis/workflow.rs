//! A workflow run request (SPEC §5.1 workflow target): one `XADD` to the run stream with the fields `runKey`,
//! `workflowSlug`, `parameters` (JSON) and `trigger` (JSON).

use fred::clients::Client;
use fred::interfaces::StreamsInterface;
use fred::prelude::Error as RedisError;

/// The fields of one run request.
#[derive(Debug, Clone)]
pub struct RunRequest<'a> {
    /// The run stream.
    pub stream: &'a str,
    /// The rendered run key.
    pub run_key: &'a str,
    /// The workflow to run.
    pub workflow_slug: &'a str,
    /// The rendered parameters, JSON text.
    pub parameters: String,
    /// `{id, name, eventId, eventType, eventSource, deliveryId}`, JSON text.
    pub trigger: String,
}

/// Appends `request` to its stream; answers the entry id.
///
/// # Errors
/// The Redis error, when the command fails.
pub async fn request_run(client: &Client, request: &RunRequest<'_>) -> Result<String, RedisError> {
    client
        .xadd(
            request.stream,
            false,
            None,
            "*",
            vec![
                ("runKey", request.run_key),
                ("workflowSlug", request.workflow_slug),
                ("parameters", request.parameters.as_str()),
                ("trigger", request.trigger.as_str()),
            ],
        )
        .await
}
