//! Every JSON shape the HTTP API and the `/ws` frames send, written once as serde structs (camelCase) built from
//! domain types. HTTP routes and the live WebSocket session both use these, so a field can never be spelled two
//! ways. Depends only on `domain` and the pure `insights`.
//!
//! Fields are declared in alphabetical order of their JSON names: a WebSocket frame is serialized straight from
//! these structs, and this keeps its bytes those of a `serde_json::Value` (whose maps are sorted), which is what
//! Herald sent before the views were typed and what byte-level tests assert.
//!
//! - `event.rs`: [`EventView`] (SPEC §6.1) and the timeline's [`TimelineItemView`].
//! - `source.rs`: a source's [`SourceView`], [`SourceMetricsView`], [`SourcePauseView`], [`SourceControlView`],
//!   [`RateLimitView`] and the `source.resumed` notice's [`SourceResumedView`].
//! - `caller.rs`: who a token is ([`CallerView`], `GET /admin/me`).
//! - `dead_letter.rs`: [`DeadLetterView`].
//! - `event_schema.rs`: a schema version ([`EventSchemaView`]) and a type with its active version
//!   ([`EventSchemaSummaryView`]).
//! - `saved_view.rs`: a saved view ([`SavedViewView`], SPEC §6.8) with its owner and analytics.
//! - `health.rs`: a queue ([`QueueView`]) and a retry backlog ([`RetriesView`]) of the health endpoints.
//! - `trigger.rs`: a trigger ([`trigger_view`]), [`DeliveryView`], [`AttemptView`], [`StateChangeView`] and the
//!   data of the trigger frames.
//! - `explain.rs`: the answers of explain ([`ExplainView`], [`StepView`]) and backtest ([`BacktestView`]).
//! - `replay.rs`: a replay with its counts and progress ([`ReplayView`], SPEC §6.2).
//! - `frame.rs`: the WebSocket frame envelope [`FrameView`] and the data of the frames that are not domain views.

mod caller;
mod dead_letter;
mod event;
mod event_schema;
mod explain;
mod frame;
mod health;
mod replay;
mod saved_view;
mod source;
mod trigger;

pub use caller::CallerView;
pub use dead_letter::DeadLetterView;
pub use event::{EventView, ParentLink, TimelineItemView};
pub use event_schema::{EventSchemaSummaryView, EventSchemaView};
pub use explain::{BacktestView, EliminationView, ExplainView, StepView, ThrottlePlayView};
pub use frame::{AckData, ErrorData, EventFrameData, FrameView, LaggedData, SubscribedData};
pub use health::{QueueView, RetriesView};
pub use replay::ReplayView;
pub use saved_view::{OwnerView, SavedViewView, ViewAnalyticsView};
pub use source::{
    ControlDetail, LagView, RateLimitView, SourceControlView, SourceMetricsView, SourcePauseView,
    SourceRateLimitView, SourceResumedView, SourceView,
};
pub use trigger::{
    AttemptView, DeliveryView, StateChangeView, delivery_failed_frame_data, pause_view,
    trigger_state_frame_data, trigger_view,
};
