//! `event_trigger_deliveries`: the outcome of every (trigger, event) pair that matched type and source (SPEC
//! §5.3), one row per (trigger, event, replay id; `''` for originals). It is also the delivery outbox: a row is
//! committed `pending` before any attempt, and every scheduled retry is its `next_attempt_at`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "event_trigger_deliveries";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    // A ULID; the webhook's `webhook-id`.
                    .col(string_len("id", 26).primary_key())
                    .col(string_len("trigger_id", 26))
                    .col(string_len("event_id", 128))
                    // `''` for an original delivery, the replay's id otherwise; never NULL, so the unique key holds.
                    .col(string_len("replay_id", 26).default(""))
                    // The event's `ingressSequence`: deliveries of a trigger go in this order.
                    .col(big_integer("event_sequence"))
                    .col(string_len("status", 16))
                    // For `filtered`: the index of the predicate that failed.
                    .col(integer_null("filtered_predicate"))
                    .col(text_null("idempotency_key"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(integer_null("last_status_code"))
                    .col(text_null("last_error"))
                    // The trigger version that evaluated it.
                    .col(integer("trigger_version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_event_trigger_deliveries_pair")
                    .table(TABLE)
                    .col("trigger_id")
                    .col("event_id")
                    .col("replay_id")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // The delivery worker's query: a trigger's open deliveries in event order.
        manager
            .create_index(
                Index::create()
                    .name("idx_event_trigger_deliveries_work")
                    .table(TABLE)
                    .col("trigger_id")
                    .col("status")
                    .col("event_sequence")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // The delivery owner's look for `pending` rows other instances recorded since its last poll.
        manager
            .create_index(
                Index::create()
                    .name("idx_event_trigger_deliveries_status_created")
                    .table(TABLE)
                    .col("status")
                    .col("created_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_trigger_deliveries_event")
                    .table(TABLE)
                    .col("event_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_trigger_deliveries_key")
                    .table(TABLE)
                    .col("trigger_id")
                    .col("idempotency_key")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).if_exists().to_owned())
            .await
    }
}
