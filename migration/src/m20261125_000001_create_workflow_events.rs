//! `workflow_events`: every accepted event, stored exactly once by `id`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "workflow_events";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(string_len("id", 128).primary_key())
                    // Assigned in commit order by the ingress router; cursors and WebSocket `since` key on it.
                    .col(big_integer_uniq("ingress_sequence"))
                    .col(string_len("type", 200))
                    .col(string_len("source", 200))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(json_binary("payload"))
                    .col(string_len_null("correlation_id", 256))
                    .col(string_len_null("causation_id", 256))
                    .col(big_integer_null("ttl_ms"))
                    .col(json_binary_null("metadata"))
                    .col(integer_null("schema_version"))
                    // SHA-256 of the canonical {type, source, payload}: tells a duplicate from an id conflict
                    // without reading the payload back.
                    .col(string_len("content_hash", 64))
                    .col(string_len_null("stream_id", 64))
                    .to_owned(),
            )
            .await?;
        for column in ["type", "source", "occurred_at", "correlation_id"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_workflow_events_{column}"))
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
