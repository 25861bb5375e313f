//! The scratch database a bench runs on, created on the configured server and removed afterwards.

use reqwest::Url;
use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::storage::Storage;

/// A scratch database on the configured server, removed by [`Scratch::drop_it`].
pub(super) struct Scratch {
    pub(super) url: String,
    admin: Option<(String, String)>,
    file: Option<std::path::PathBuf>,
}

impl Scratch {
    /// A new, empty database: a PostgreSQL database beside the configured one, or a SQLite file in the temp dir.
    ///
    /// # Errors
    /// When the configured PostgreSQL server refuses the `CREATE DATABASE`.
    pub(super) async fn create(settings: &Settings) -> anyhow::Result<Scratch> {
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        if settings.is_sqlite() {
            let file = std::env::temp_dir().join(format!("herald-bench-{id}.db"));
            return Ok(Scratch {
                url: format!("sqlite://{}?mode=rwc", file.display()),
                admin: None,
                file: Some(file),
            });
        }
        let configured = settings.database_url.expose_secret();
        let name = format!("herald_bench_{id}");
        let storage = Storage::connect(configured).await?;
        storage
            .write_connection()
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await?;
        Ok(Scratch {
            url: replace_database(configured, &name)?,
            admin: Some((configured.to_owned(), name)),
            file: None,
        })
    }

    /// `settings` pointed at this database, on a free port, with a stream and consumer group of their own.
    ///
    /// # Errors
    /// Never in practice (the listen address is a constant).
    pub(super) fn settings(&self, settings: &Settings) -> anyhow::Result<Settings> {
        let mut bench = settings.clone();
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        bench.database_url = secrecy::SecretString::from(self.url.clone());
        bench.listen = "127.0.0.1:0".parse()?;
        bench.event_stream = format!("herald:bench:{id}:events");
        bench.consumer_group = format!("herald-bench-{id}");
        Ok(bench)
    }

    /// Removes the database (or the SQLite file and its journals); a failure is logged, not returned.
    pub(super) async fn drop_it(self) {
        if let Some(file) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some((url, name)) = self.admin
            && let Ok(storage) = Storage::connect(&url).await
        {
            let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
            if let Err(e) = storage.write_connection().execute_unprepared(&sql).await {
                tracing::warn!(error.message = %e, database = %name, "Could not drop the scratch database.");
            }
        }
    }
}

/// `postgres://u@h:5432/db?x` with its database replaced by `name`.
///
/// # Errors
/// When `url` is not a URL (the error does not repeat it: it may hold a password).
fn replace_database(url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = Url::parse(url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_database_replaces_only_the_path() {
        assert_eq!(
            replace_database("postgres://u@h:5432/test", "b").unwrap(),
            "postgres://u@h:5432/b"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "b").unwrap(),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://h", "b").unwrap(),
            "postgres://h/b"
        );
    }
}
