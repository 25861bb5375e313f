//! `event_trigger_attempts`: every attempt of a delivery (SPEC §5.3): started, finished, status code, error and
//! duration.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "event_trigger_attempts";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("delivery_id", 26))
                    .col(string_len("trigger_id", 26))
                    // 1 for the first attempt.
                    .col(integer("attempt"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("finished_at"))
                    .col(integer_null("status_code"))
                    .col(text_null("error"))
                    .col(big_integer("duration_ms"))
                    // `delivered`, `retryable` or `failed`.
                    .col(string_len("outcome", 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_trigger_attempts_delivery")
                    .table(TABLE)
                    .col("delivery_id")
                    .col("attempt")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // First failures of recent deliveries, read when an actor rebuilds its auto-pause window.
        manager
            .create_index(
                Index::create()
                    .name("idx_event_trigger_attempts_trigger_started")
                    .table(TABLE)
                    .col("trigger_id")
                    .col("started_at")
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
