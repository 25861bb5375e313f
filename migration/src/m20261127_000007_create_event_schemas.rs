//! `event_schemas`: every version of every registered per-type JSON Schema (SPEC §6.7). Rows are never updated or
//! deleted: a type's active version is its highest, and older versions stay readable as history.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "event_schemas";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TABLE)
                    .if_not_exists()
                    // Increasing: every instance polls `COUNT(*)` and `MAX(id)` to notice a new version cheaply.
                    .col(big_pk_auto("id"))
                    .col(string_len("event_type", 200))
                    // 1, 2, …: per type.
                    .col(integer("version"))
                    .col(json_binary("schema"))
                    // SHA-256 of the schema's canonical JSON: a re-registration of the same schema is no new version.
                    .col(string_len("schema_hash", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    // The registering token's subject.
                    .col(string_len("created_by", 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_schemas_type_version")
                    .table(TABLE)
                    .col("event_type")
                    .col("version")
                    .unique()
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
