//! `triggers`: one row per trigger (SPEC §5.1): its definition as shown (defaults filled in, no secret), the
//! webhook secret kept apart, and its current pause state (the head of `trigger_state_changes`, kept here so that
//! every instance reads it in one query and so that a state write can be a compare-and-set on `state_version`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "triggers";

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
                    .col(string_len("name", 200))
                    // The normalized definition as JSON text.
                    .col(text("definition"))
                    // `whsec_…` for webhook targets; never returned after create.
                    .col(text_null("secret"))
                    // Bumped by every create and update (the `trigger_changes` row of the same number).
                    .col(integer("version"))
                    // `running`, `paused` or `halfOpen`.
                    .col(string_len("state", 16))
                    .col(timestamp_with_time_zone_null("state_until"))
                    .col(text("state_reason"))
                    .col(string_len("state_actor", 200))
                    .col(timestamp_with_time_zone("state_at"))
                    // Bumped by every state change: writers compare-and-set on it.
                    .col(big_integer("state_version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
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
