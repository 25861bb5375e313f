//! `trigger_evaluation_marks`: per running instance, the lowest `ingressSequence` it stored whose trigger
//! evaluation is not yet committed (SPEC §3: every stored event is evaluated exactly once per trigger). Written
//! every second as a heartbeat; a mark that stops moving belongs to a stopped instance, and another instance
//! evaluates again every event from it on (outcome rows are unique per pair, so what was done stays done).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "trigger_evaluation_marks";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    // host-pid-ulid, one per process start.
                    .col(string_len("instance_id", 200).primary_key())
                    .col(big_integer("unsettled_from"))
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
