//! `saved_views`: named event filters an operator saves, applies and shares (SPEC §6.8), with their owner and
//! usage counters.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "saved_views";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    // A ULID: sorts by creation time, and serves as the list's cursor key.
                    .col(string_len("id", 26).primary_key())
                    // The view's address in URLs; made from the name once and kept across renames.
                    .col(string_len("slug", 64).unique_key())
                    .col(string_len("name", 120))
                    .col(text_null("description"))
                    // The normalized filters as JSON text: {type, source, correlationId, severity[], from, to,
                    // jsonPath}.
                    .col(text("filters"))
                    // `private` or `shared`.
                    .col(string_len("visibility", 16))
                    // The creating token's subject.
                    .col(string_len("owner_subject", 200))
                    .col(big_integer("applied_count").default(0))
                    .col(big_integer("shared_count").default(0))
                    .col(timestamp_with_time_zone_null("last_applied_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_saved_views_owner_subject_id")
                    .table(TABLE)
                    .col("owner_subject")
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
