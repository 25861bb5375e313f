//! `replays` (SPEC §6.2): one row per replay an operator asked for, with how far its read of the event range has
//! come. The cursor and counts move in the transaction that records each step's deliveries, so a replay resumes
//! after a crash exactly where its last recorded step ended. Also the index that counts a replay's deliveries by
//! status (partial: original deliveries, `replay_id = ''`, are not in it and cost it nothing).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "replays";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(string_len("id", 26).primary_key())
                    // pending, running, completed, cancelled.
                    .col(string_len("status", 16))
                    .col(boolean("dry_run"))
                    .col(timestamp_with_time_zone("from_at"))
                    .col(timestamp_with_time_zone("to_at"))
                    .col(text_null("event_type"))
                    .col(text_null("event_source"))
                    // A JSON array of trigger ids.
                    .col(text("trigger_ids"))
                    .col(double("rate_per_second"))
                    // The highest ingressSequence stored when it was asked for.
                    .col(big_integer("upper_sequence"))
                    // The ingressSequence of the last event read.
                    .col(big_integer("cursor").default(0))
                    .col(big_integer_null("total"))
                    .col(big_integer("scanned").default(0))
                    .col(big_integer("matched").default(0))
                    .col(text("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("started_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_replays_status")
                    .table(TABLE)
                    .col("status")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Same statement on SQLite and PostgreSQL; sea-query's index builder has no WHERE.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_event_trigger_deliveries_replay \
                 ON event_trigger_deliveries (replay_id, status) WHERE replay_id <> ''",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_event_trigger_deliveries_replay")
            .await?;
        manager
            .drop_table(Table::drop().table(TABLE).if_exists().to_owned())
            .await
    }
}
