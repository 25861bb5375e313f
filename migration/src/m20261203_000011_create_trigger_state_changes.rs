//! `trigger_state_changes`: the event-sourced log of a trigger's pause state (SPEC §5.7): every transition
//! between `running`, `paused` and `halfOpen`, with when, why, who and until when. A restarted actor rebuilds its
//! state from it; `GET /admin/triggers/{id}/history` reads it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "trigger_state_changes";

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
                    .col(timestamp_with_time_zone("at"))
                    .col(string_len("from_state", 16))
                    .col(string_len("to_state", 16))
                    .col(text("reason"))
                    .col(string_len("actor", 200))
                    .col(timestamp_with_time_zone_null("until"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_trigger_state_changes_trigger_id")
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
