//! Reads and writes of `saved_views` (SPEC §6.8). Who may do what is the caller's business
//! ([`SavedView::access_for`]); this repository only stores, and answers views read back after each change, on
//! the writer, so an answer always shows the change it reports.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr,
};

use super::rows::{saved_view_from_model, saved_view_row};
use crate::domain::truncate_to_millis;
use crate::saved_view::{NewSavedView, SavedView, Slug, ViewChanges, Visibility};
use crate::storage::StorageError;
use crate::storage::entity::saved_views as views;

/// Times a create retries after another create took its slug between the look-up and the insert.
const SLUG_RACE_RETRIES: usize = 5;

/// Saved views.
#[derive(Debug, Clone, Copy)]
pub struct SavedViewsRepo<'a> {
    write: &'a DatabaseConnection,
    read: &'a DatabaseConnection,
}

impl<'a> SavedViewsRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection, read: &'a DatabaseConnection) -> Self {
        SavedViewsRepo { write, read }
    }

    /// Stores `view` under `id` with the slug its name asks for, or that slug with the smallest free numeric
    /// suffix ([`Slug::first_free`]).
    ///
    /// # Errors
    /// [`StorageError::Database`], also when the slug kept being taken by concurrent creates.
    #[tracing::instrument(name = "create_saved_view", skip(self, view), fields(owner = %view.owner))]
    pub async fn create(
        &self,
        id: &str,
        view: &NewSavedView,
        now: DateTime<Utc>,
    ) -> Result<SavedView, StorageError> {
        let base = Slug::from_name(view.name.as_str());
        let mut attempt = 0;
        loop {
            let taken = self.slugs_like(&base).await?;
            let slug = Slug::first_free(&base, &taken);
            let inserted = views::Entity::insert(saved_view_row(id, &slug, view, now))
                .exec_without_returning(self.write)
                .await;
            match inserted {
                Ok(_) => {}
                Err(e)
                    if attempt < SLUG_RACE_RETRIES
                        && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            return self.find_on(self.write, &slug).await?.ok_or_else(|| {
                StorageError::Database(sea_orm::DbErr::RecordNotFound(slug.to_string()))
            });
        }
    }

    /// The slugs already taken that a view named like `base` could collide with: `base` and `base-…`.
    async fn slugs_like(&self, base: &Slug) -> Result<HashSet<String>, StorageError> {
        // Slugs hold only `a-z`, `0-9` and `-`, never a LIKE wildcard, so the prefix needs no escaping.
        let rows: Vec<String> = views::Entity::find()
            .select_only()
            .column(views::Column::Slug)
            .filter(
                Condition::any()
                    .add(views::Column::Slug.eq(base.as_str()))
                    .add(views::Column::Slug.like(format!("{base}-%"))),
            )
            .into_tuple()
            .all(self.write)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The view at `slug`, whoever owns it.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] for a row that no longer parses.
    #[tracing::instrument(name = "find_saved_view", skip(self), fields(slug = %slug))]
    pub async fn find(&self, slug: &Slug) -> Result<Option<SavedView>, StorageError> {
        self.find_on(self.read, slug).await
    }

    async fn find_on(
        &self,
        conn: &impl ConnectionTrait,
        slug: &Slug,
    ) -> Result<Option<SavedView>, StorageError> {
        views::Entity::find()
            .filter(views::Column::Slug.eq(slug.as_str()))
            .one(conn)
            .await?
            .map(saved_view_from_model)
            .transpose()
    }

    /// The views `subject` may see (its own and every shared one), newest first, older than the view with id
    /// `before` when given; up to `limit + 1`, so the caller can tell whether there is more.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] for a row that no longer parses.
    #[tracing::instrument(name = "list_saved_views", skip(self))]
    pub async fn list_visible(
        &self,
        subject: &str,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<SavedView>, StorageError> {
        let mut query = views::Entity::find()
            .filter(
                Condition::any()
                    .add(views::Column::OwnerSubject.eq(subject))
                    .add(views::Column::Visibility.eq(Visibility::Shared.as_str())),
            )
            // Ids are ULIDs: newest first by id is newest first by creation, the id its own tie-break.
            .order_by_desc(views::Column::Id)
            .limit(limit + 1);
        if let Some(before) = before {
            query = query.filter(views::Column::Id.lt(before));
        }
        query
            .all(self.read)
            .await?
            .into_iter()
            .map(saved_view_from_model)
            .collect()
    }

    /// Applies `changes` to the view at `slug` and answers it; `None` when there is no such view.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] for a row that no longer parses.
    #[tracing::instrument(name = "update_saved_view", skip(self, changes), fields(slug = %slug))]
    pub async fn update(
        &self,
        slug: &Slug,
        changes: &ViewChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<SavedView>, StorageError> {
        let mut update = views::Entity::update_many().col_expr(
            views::Column::UpdatedAt,
            Expr::value(truncate_to_millis(now)),
        );
        if let Some(name) = &changes.name {
            update = update.col_expr(views::Column::Name, Expr::value(name.as_str()));
        }
        if let Some(description) = &changes.description {
            let text = description.as_ref().map(|d| d.as_str().to_owned());
            update = update.col_expr(views::Column::Description, Expr::value(text));
        }
        if let Some(filters) = &changes.filters {
            update = update.col_expr(
                views::Column::Filters,
                Expr::value(filters.to_json().to_string()),
            );
        }
        if let Some(visibility) = changes.visibility {
            update = update.col_expr(views::Column::Visibility, Expr::value(visibility.as_str()));
        }
        self.update_at(slug, update).await
    }

    /// Counts one application of the view at `slug` (`appliedCount + 1`, `lastAppliedAt = now`) and answers it;
    /// `None` when there is no such view.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] for a row that no longer parses.
    #[tracing::instrument(name = "apply_saved_view", skip(self), fields(slug = %slug))]
    pub async fn record_apply(
        &self,
        slug: &Slug,
        now: DateTime<Utc>,
    ) -> Result<Option<SavedView>, StorageError> {
        let update = views::Entity::update_many()
            .col_expr(
                views::Column::AppliedCount,
                Expr::col(views::Column::AppliedCount).add(1),
            )
            .col_expr(
                views::Column::LastAppliedAt,
                Expr::value(Some(truncate_to_millis(now))),
            );
        self.update_at(slug, update).await
    }

    /// Shares the view at `slug` (`visibility = shared`, `sharedCount + 1`, counted on every call) and answers
    /// it; `None` when there is no such view.
    ///
    /// # Errors
    /// [`StorageError::Database`]; [`StorageError::Corrupt`] for a row that no longer parses.
    #[tracing::instrument(name = "share_saved_view", skip(self), fields(slug = %slug))]
    pub async fn share(
        &self,
        slug: &Slug,
        now: DateTime<Utc>,
    ) -> Result<Option<SavedView>, StorageError> {
        let update = views::Entity::update_many()
            .col_expr(
                views::Column::Visibility,
                Expr::value(Visibility::Shared.as_str()),
            )
            .col_expr(
                views::Column::SharedCount,
                Expr::col(views::Column::SharedCount).add(1),
            )
            .col_expr(
                views::Column::UpdatedAt,
                Expr::value(truncate_to_millis(now)),
            );
        self.update_at(slug, update).await
    }

    /// Deletes the view at `slug`; whether there was one.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    #[tracing::instrument(name = "delete_saved_view", skip(self), fields(slug = %slug))]
    pub async fn delete(&self, slug: &Slug) -> Result<bool, StorageError> {
        let result = views::Entity::delete_many()
            .filter(views::Column::Slug.eq(slug.as_str()))
            .exec(self.write)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Runs `update` on the row at `slug` and reads the row back on the writer.
    async fn update_at(
        &self,
        slug: &Slug,
        update: sea_orm::UpdateMany<views::Entity>,
    ) -> Result<Option<SavedView>, StorageError> {
        let result = update
            .filter(views::Column::Slug.eq(slug.as_str()))
            .exec(self.write)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.find_on(self.write, slug).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::saved_view::{ViewFilters, ViewName};
    use crate::storage::Storage;

    fn new_view(name: &str, owner: &str) -> NewSavedView {
        NewSavedView {
            name: ViewName::parse(name).unwrap(),
            description: None,
            filters: ViewFilters::from_json(json!({"type": "a.*"}).as_object().unwrap()).unwrap(),
            visibility: Visibility::Private,
            owner: owner.into(),
        }
    }

    #[tokio::test]
    async fn colliding_names_get_numbered_slugs_and_counters_add_up() {
        let (_dir, storage) = Storage::scratch().await;
        let repo = storage.saved_views();
        let now = Utc::now();
        let a = repo
            .create("01A", &new_view("Errors", "alice"), now)
            .await
            .unwrap();
        let b = repo
            .create("01B", &new_view("errors!", "bob"), now)
            .await
            .unwrap();
        let c = repo
            .create("01C", &new_view("Errors", "bob"), now)
            .await
            .unwrap();
        assert_eq!(
            [a.slug.as_str(), b.slug.as_str(), c.slug.as_str()],
            ["errors", "errors-2", "errors-3"]
        );
        repo.record_apply(&a.slug, now).await.unwrap();
        let applied = repo.record_apply(&a.slug, now).await.unwrap().unwrap();
        assert_eq!(applied.applied_count, 2);
        assert_eq!(applied.last_applied_at, Some(truncate_to_millis(now)));
        assert_eq!(applied.filters.to_json()["type"], "a.*");
        let shared = repo.share(&b.slug, now).await.unwrap().unwrap();
        assert_eq!(
            (shared.visibility, shared.shared_count),
            (Visibility::Shared, 1)
        );
        let alice_sees: Vec<String> = repo
            .list_visible("alice", None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.slug.to_string())
            .collect();
        assert_eq!(alice_sees, ["errors-2", "errors"]);
        assert!(repo.delete(&a.slug).await.unwrap());
        assert!(!repo.delete(&a.slug).await.unwrap());
        assert!(repo.record_apply(&a.slug, now).await.unwrap().is_none());
    }
}
