//! Named leases with an expiry: compare-and-swap on the holder, so two processes can never both hold one.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::storage::StorageError;
use crate::storage::entity::herald_leases as leases;

/// Why a lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Someone else holds it and it has not lapsed.
    #[error("lease {name:?} is held by {holder} until {until}")]
    Held {
        /// The lease.
        name: String,
        /// Its holder.
        holder: String,
        /// When it lapses unless renewed.
        until: DateTime<Utc>,
    },
    /// The lease was taken over by another holder (this one had let it lapse).
    #[error("lease {name:?} was lost")]
    Lost {
        /// The lease.
        name: String,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sea_orm::DbErr> for LeaseError {
    fn from(e: sea_orm::DbErr) -> Self {
        LeaseError::Storage(StorageError::Database(e))
    }
}

/// Repository of `herald_leases`.
pub struct LeasesRepo<'a> {
    write: &'a DatabaseConnection,
}

impl<'a> LeasesRepo<'a> {
    pub(crate) fn new(write: &'a DatabaseConnection) -> Self {
        LeasesRepo { write }
    }

    /// Takes `name` for `holder` for `ttl`, unless another holder has it and it has neither lapsed nor been
    /// declared dead by `holder_is_dead` (for a holder on this host whose process is gone).
    ///
    /// # Errors
    /// [`LeaseError::Held`] naming the current holder, or a storage error.
    pub async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        holder_is_dead: impl Fn(&str) -> bool,
    ) -> Result<(), LeaseError> {
        let now = Utc::now();
        let current = leases::Entity::find_by_id(name.to_owned())
            .one(self.write)
            .await?;
        match current {
            None => {
                let row = leases::ActiveModel {
                    name: Set(name.to_owned()),
                    holder: Set(holder.to_owned()),
                    acquired_at: Set(now),
                    expires_at: Set(now + ttl),
                };
                let inserted = leases::Entity::insert(row)
                    .on_conflict_do_nothing()
                    .exec_without_returning(self.write)
                    .await?;
                match inserted {
                    sea_orm::TryInsertResult::Inserted(1) => Ok(()),
                    _ => Err(self.held(name).await),
                }
            }
            Some(lease)
                if lease.holder == holder
                    || lease.expires_at < now
                    || holder_is_dead(&lease.holder) =>
            {
                let taken = leases::Entity::update_many()
                    .set(leases::ActiveModel {
                        holder: Set(holder.to_owned()),
                        acquired_at: Set(now),
                        expires_at: Set(now + ttl),
                        ..Default::default()
                    })
                    .filter(leases::Column::Name.eq(name))
                    .filter(leases::Column::Holder.eq(lease.holder.as_str()))
                    .exec(self.write)
                    .await?;
                if taken.rows_affected == 1 {
                    Ok(())
                } else {
                    Err(self.held(name).await)
                }
            }
            Some(lease) => Err(LeaseError::Held {
                name: name.to_owned(),
                holder: lease.holder,
                until: lease.expires_at,
            }),
        }
    }

    async fn held(&self, name: &str) -> LeaseError {
        match leases::Entity::find_by_id(name.to_owned())
            .one(self.write)
            .await
        {
            Ok(Some(lease)) => LeaseError::Held {
                name: name.to_owned(),
                holder: lease.holder,
                until: lease.expires_at,
            },
            Ok(None) => LeaseError::Lost {
                name: name.to_owned(),
            },
            Err(e) => e.into(),
        }
    }

    /// Who holds `name` at `now`, if anyone.
    ///
    /// # Errors
    /// [`StorageError::Database`].
    pub async fn holder(
        &self,
        name: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        Ok(leases::Entity::find_by_id(name.to_owned())
            .one(self.write)
            .await?
            .filter(|l| l.expires_at >= now)
            .map(|l| l.holder))
    }

    /// Extends `name` for `holder` by `ttl` from now.
    ///
    /// # Errors
    /// [`LeaseError::Lost`] when `holder` no longer holds it.
    pub async fn renew(&self, name: &str, holder: &str, ttl: Duration) -> Result<(), LeaseError> {
        let renewed = leases::Entity::update_many()
            .set(leases::ActiveModel {
                expires_at: Set(Utc::now() + ttl),
                ..Default::default()
            })
            .filter(leases::Column::Name.eq(name))
            .filter(leases::Column::Holder.eq(holder))
            .exec(self.write)
            .await?;
        if renewed.rows_affected == 1 {
            Ok(())
        } else {
            Err(LeaseError::Lost {
                name: name.to_owned(),
            })
        }
    }

    /// Gives `name` up, if `holder` still holds it.
    ///
    /// # Errors
    /// A storage error.
    pub async fn release(&self, name: &str, holder: &str) -> Result<(), LeaseError> {
        leases::Entity::delete_many()
            .filter(leases::Column::Name.eq(name))
            .filter(leases::Column::Holder.eq(holder))
            .exec(self.write)
            .await?;
        Ok(())
    }
}
