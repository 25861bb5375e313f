//! The entities under short names.

pub use super::event_ingress_failures::Entity as EventIngressFailures;
pub use super::event_schemas::Entity as EventSchemas;
pub use super::herald_leases::Entity as HeraldLeases;
pub use super::saved_views::Entity as SavedViews;
pub use super::source_controls::Entity as SourceControls;
pub use super::source_deferrals::Entity as SourceDeferrals;
pub use super::source_pauses::Entity as SourcePauses;
pub use super::source_stats::Entity as SourceStats;
pub use super::workflow_events::Entity as WorkflowEvents;
