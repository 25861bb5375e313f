//! `event_ingress_failures`: dead letters of the ingress (invalid envelopes, id conflicts, poison entries).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "event_ingress_failures";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(string_len("id", 26).primary_key())
                    .col(string_len("reason", 64))
                    .col(text("message"))
                    .col(string_len_null("source", 200))
                    .col(string_len_null("event_id", 128))
                    .col(string_len_null("stream_id", 64))
                    // The entry as received, truncated to 1 MiB.
                    .col(text("raw"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(timestamp_with_time_zone_null("redriven_at"))
                    .to_owned(),
            )
            .await?;
        for column in ["received_at", "reason", "source"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_event_ingress_failures_{column}"))
                        .table(TABLE)
                        .col(column)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
