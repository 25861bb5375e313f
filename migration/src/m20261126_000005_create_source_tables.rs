//! Source rate limits and pauses (SPEC §4, §6.5): what a restart and every other instance must see.
//!
//! - `source_deferrals`: events whose trigger evaluation a source's limiter deferred, one row per event, so a
//!   restart releases them in `ingress_sequence` order. A release deletes its rows, and only the rows it deleted
//!   go on, so two instances can never release one event twice.
//! - `source_pauses`: the pause in force per source (manual or rate limit), shared by every instance.
//! - `source_stats`: per-source counters, incremented with atomic upserts by every instance, so they are summed
//!   across instances by construction.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const DEFERRALS: &str = "source_deferrals";
const PAUSES: &str = "source_pauses";
const STATS: &str = "source_stats";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DEFERRALS)
                    .if_not_exists()
                    .col(string_len("source", 200))
                    .col(big_integer("ingress_sequence"))
                    .col(timestamp_with_time_zone("deferred_at"))
                    // The key also serves "this source's backlog in order".
                    .primary_key(Index::create().col("source").col("ingress_sequence"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PAUSES)
                    .if_not_exists()
                    .col(string_len("source", 200).primary_key())
                    // `manual` or `rate_limit`.
                    .col(string_len("kind", 16))
                    .col(text("reason"))
                    // The acting token's subject; `herald` for automatic pauses.
                    .col(string_len("actor", 200))
                    .col(timestamp_with_time_zone("paused_at"))
                    // NULL: until resumed.
                    .col(timestamp_with_time_zone_null("paused_until"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(STATS)
                    .if_not_exists()
                    .col(string_len("source", 200).primary_key())
                    .col(big_integer("total").default(0))
                    .col(big_integer("throttled").default(0))
                    .col(big_integer("failures").default(0))
                    .col(big_integer("dropped").default(0))
                    .col(big_integer("lag_ms_sum").default(0))
                    .col(big_integer_null("lag_ms_latest"))
                    .col(big_integer_null("lag_ms_max"))
                    .col(timestamp_with_time_zone_null("last_event_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [STATS, PAUSES, DEFERRALS] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
