//! `source_controls`: every on-call control of a source (SPEC §6.5: pause, resume, discard-backlog), with the
//! acting token's subject and reason, so "who resumed this, and why" has an answer after the pause row is gone.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "source_controls";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    // A ULID: sorts by time, and serves as the history's cursor key.
                    .col(string_len("id", 26).primary_key())
                    .col(string_len("source", 200))
                    // `pause`, `resume` or `discard_backlog`.
                    .col(string_len("action", 32))
                    // The acting token's subject.
                    .col(string_len("actor", 200))
                    .col(text_null("reason"))
                    // pause: the duration asked for (NULL: until resumed).
                    .col(big_integer_null("duration_ms"))
                    // resume: whether a pause was in force and ended.
                    .col(boolean_null("ended_pause"))
                    // discard_backlog: how many deferred evaluations were dropped.
                    .col(big_integer_null("discarded"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_source_controls_source_id")
                    .table(TABLE)
                    .col("source")
                    .col("id")
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
