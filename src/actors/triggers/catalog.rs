//! The directory's trigger catalog kept current (SPEC §3, §13): the poll that applies changes made on any
//! instance, and the freshness gate that makes evaluation wait until every trigger change committed before its
//! events were stored is applied.
//!
//! A change is any `trigger_changes` row (create, update, delete); its highest id is the catalog version, one
//! indexed read. In redis mode released events whose `receivedAt` is newer than the last check wait (in order)
//! for one; when the version moved, the changed triggers are read and installed first. In inline mode only this
//! instance changes triggers, and it reloads them before answering the request, so nothing waits.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;

use super::actor::Wake;
use super::directory::TriggerDirectory;
use crate::actors::EventsReleased;
use crate::storage::{StorageError, TriggerVersions};

impl TriggerDirectory {
    /// Evaluates `msg` now, or queues it behind a catalog check when it may be newer than the catalog.
    pub(super) fn evaluate(&mut self, msg: EventsReleased, ctx: &mut Context<Self>) {
        let newest = msg.events.iter().map(|e| e.received_at).max();
        let fresh = !self.shared || newest.is_none_or(|at| at <= self.fresh_as_of);
        if fresh && self.waiting.is_empty() {
            self.evaluate_now(&msg);
            return;
        }
        self.waiting.push_back(msg);
        self.check_fresh(ctx);
    }

    /// Reads the catalog version (one indexed read): unchanged, the catalog is fresh as of the read's start;
    /// changed, a full poll brings the changes in first.
    fn check_fresh(&mut self, ctx: &mut Context<Self>) {
        if self.checking || self.polling {
            return;
        }
        self.checking = true;
        let storage = self.storage.clone();
        let read = async move {
            let started = Utc::now();
            storage
                .triggers()
                .catalog_version()
                .await
                .map(|v| (started, v))
        };
        ctx.spawn(read.into_actor(self).map(|read, d, ctx| {
            d.checking = false;
            match read {
                Ok((started, version)) if version == d.catalog_version => {
                    d.fresh_as_of = d.fresh_as_of.max(started);
                    d.flush_waiting(ctx);
                }
                Ok(_) => d.poll(ctx),
                Err(e) => {
                    tracing::warn!(error = %e, "Reading the trigger catalog version failed; trying again.");
                    ctx.run_later(std::time::Duration::from_millis(100), |d, ctx| d.check_fresh(ctx));
                }
            }
        }));
    }

    /// Evaluates the waiting events the catalog is now fresh enough for, in order.
    fn flush_waiting(&mut self, ctx: &mut Context<Self>) {
        while let Some(next) = self.waiting.front() {
            let newest = next.events.iter().map(|e| e.received_at).max();
            if newest.is_some_and(|at| at > self.fresh_as_of) {
                // Stored after the check began: one more check.
                self.check_fresh(ctx);
                return;
            }
            if let Some(msg) = self.waiting.pop_front() {
                self.evaluate_now(&msg);
            }
        }
    }

    /// Reads the catalog version and, when it moved, every trigger's versions and the changed triggers; installs
    /// them. When this instance delivers, also wakes the actors of triggers with `pending` rows recorded elsewhere.
    pub(super) fn poll(&mut self, ctx: &mut Context<Self>) {
        if self.owner {
            self.wake_recorded_elsewhere(ctx);
        }
        if self.polling {
            return;
        }
        self.polling = true;
        let storage = self.storage.clone();
        let known_logs = (self.catalog_version, self.state_log_version);
        let read = async move {
            let started = Utc::now();
            let logs = (
                storage.triggers().catalog_version().await?,
                storage.triggers().state_log_version().await?,
            );
            // Every trigger's versions only when a change or a state change was logged since the last poll: with
            // 10,000 triggers the usual poll is two indexed reads, not 10,000 rows.
            let versions = if logs == known_logs {
                None
            } else {
                Some(storage.triggers().versions().await?)
            };
            Ok::<_, StorageError>((started, logs, versions))
        };
        ctx.spawn(read.into_actor(self).map(|read, d, ctx| {
            let (started, logs, versions) = match read {
                Ok(read) => read,
                Err(e) => {
                    d.polling = false;
                    tracing::warn!(error = %e, "Polling triggers failed; trying again.");
                    ctx.run_later(std::time::Duration::from_millis(100), |d, ctx| d.poll(ctx));
                    return;
                }
            };
            let Some(versions) = versions else {
                d.polling = false;
                d.fresh_as_of = d.fresh_as_of.max(started);
                d.flush_waiting(ctx);
                return;
            };
            let stored: HashSet<&str> = versions.iter().map(|(id, _)| id.as_str()).collect();
            let gone: Vec<Arc<str>> = d
                .entries
                .keys()
                .filter(|id| !stored.contains(id.as_ref()))
                .cloned()
                .collect();
            for id in gone {
                d.remove(&id);
            }
            let changed: Vec<String> = versions
                .into_iter()
                .filter(|(id, v)| d.entries.get(id.as_str()).map(|e| e.versions) != Some(*v))
                .map(|(id, _)| id)
                .collect();
            d.install_changed(changed, started, logs, ctx);
        }));
    }

    /// Wakes the actors of triggers with `pending` rows recorded since the last look (by another instance; this
    /// one hands its own over). A read of its own, so that the catalog check that evaluation waits on never
    /// queues behind it.
    fn wake_recorded_elsewhere(&mut self, ctx: &mut Context<Self>) {
        if self.waking {
            return;
        }
        self.waking = true;
        let storage = self.storage.clone();
        let since = self.pending_seen_at;
        let read = async move {
            let started = Utc::now();
            let woken = storage
                .deliveries()
                .triggers_with_pending_since(since)
                .await;
            (started, woken)
        };
        ctx.spawn(read.into_actor(self).map(|(started, woken), d, _| {
            d.waking = false;
            match woken {
                Ok(woken) => {
                    // Rows recorded up to a second ago may still be committing elsewhere: look back a little.
                    d.pending_seen_at = started - chrono::TimeDelta::seconds(1);
                    for id in woken {
                        if let Some(entry) = d.entries.get(id.as_str()) {
                            entry.addr.do_send(Wake);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Looking for deliveries recorded elsewhere failed; the next poll looks again.");
                }
            }
        }));
    }

    /// Reads and installs the changed triggers, then takes the poll's logs and time as the catalog's.
    fn install_changed(
        &mut self,
        changed: Vec<String>,
        started: chrono::DateTime<Utc>,
        logs: (i64, i64),
        ctx: &mut Context<Self>,
    ) {
        let storage = self.storage.clone();
        let read = async move {
            let mut records = Vec::with_capacity(changed.len());
            for id in &changed {
                records.push(storage.triggers().find_fresh(id).await?);
            }
            Ok::<_, StorageError>(records)
        };
        ctx.spawn(read.into_actor(self).map(move |records, d, ctx| {
            d.polling = false;
            match records {
                Ok(records) => {
                    for record in records.into_iter().flatten() {
                        let versions = TriggerVersions {
                            version: record.version,
                            state_version: record.head.version,
                        };
                        d.install(&record, versions, None, ctx);
                    }
                    (d.catalog_version, d.state_log_version) = logs;
                    d.fresh_as_of = d.fresh_as_of.max(started);
                    d.flush_waiting(ctx);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Reading changed triggers failed; trying again.");
                    ctx.run_later(std::time::Duration::from_millis(100), |d, ctx| d.poll(ctx));
                }
            }
        }));
    }
}
