//! `workflow_events.severity` (SPEC §6.1: computed once at ingest, filterable), and indexes that serve the events
//! list: newest first by `ingress_sequence` within one type, source or severity, so a filtered page is an index
//! range scan at any depth. They replace the single-column `type` and `source` indexes, which they cover.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "workflow_events";
const PAGE_INDEXES: [&str; 3] = ["type", "source", "severity"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(string_len("severity", 16).default("info"))
                    .to_owned(),
            )
            .await?;
        for column in ["type", "source"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_workflow_events_{column}"))
                        .table(TABLE)
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        for column in PAGE_INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_workflow_events_{column}_sequence"))
                        .table(TABLE)
                        .col(column)
                        .col("ingress_sequence")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in PAGE_INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_workflow_events_{column}_sequence"))
                        .table(TABLE)
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        for column in ["type", "source"] {
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
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .drop_column("severity")
                    .to_owned(),
            )
            .await
    }
}
