//! `trigger_changes`: every create, update and delete of a trigger (SPEC §5.1): who, when, and the definition
//! that resulted. Kept after the trigger is deleted.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "trigger_changes";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_len("trigger_id", 26))
                    .col(integer("version"))
                    // `create`, `update` or `delete`.
                    .col(string_len("action", 16))
                    .col(string_len("actor", 200))
                    .col(timestamp_with_time_zone("at"))
                    // The normalized definition after the change, as JSON text.
                    .col(text("definition"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_trigger_changes_trigger_id")
                    .table(TABLE)
                    .col("trigger_id")
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
