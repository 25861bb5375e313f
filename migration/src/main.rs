//! `cargo run -p migration -- up|down|status|fresh`: the SeaORM migration CLI over Herald's schema.
use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
