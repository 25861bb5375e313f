//! The entities under short names.

pub use super::event_ingress_failures::Entity as EventIngressFailures;
pub use super::herald_leases::Entity as HeraldLeases;
pub use super::workflow_events::Entity as WorkflowEvents;
