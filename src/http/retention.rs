//! The app's sweep of what has outlived its keeping: events past the retention period,
//! idempotency keys past their 24 hours, stream tickets past their minute, field usage past
//! its days.

use sea_orm::DatabaseConnection;

use crate::db::Db;

/// Deletes events older than the retention period, idempotency keys past their 24 hours,
/// stream tickets past their minute and field usage older than `usage_days`, at start and then
/// every sweep, for as long as the app lives.
pub(super) struct Retention(tokio::task::JoinHandle<()>);

impl Retention {
    /// Rows deleted per statement: short statements, so retention never holds a long lock.
    const BATCH: u64 = 500;

    pub(super) fn start(
        db: DatabaseConnection,
        settings: &crate::config::EventSettings,
        usage_days: u32,
    ) -> Self {
        let (retention, sweep) = (settings.retention, settings.retention_sweep);
        let db = Db::from(db);
        Self(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(sweep);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Ok(age) = chrono::Duration::from_std(retention) else {
                    return;
                };
                let now = chrono::Utc::now();
                match crate::domain::events::purge_older_than(&db, now - age, Self::BATCH).await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(deleted, "deleted events older than the retention period")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err.log_description(), "could not delete old events; trying again at the next sweep")
                    }
                }
                match crate::domain::idempotency::purge_expired(&db, now, Self::BATCH).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "deleted expired idempotency keys"),
                    Err(err) => {
                        tracing::warn!(error = %err.log_description(), "could not delete expired idempotency keys; trying again at the next sweep")
                    }
                }
                match crate::domain::stream_tickets::purge_expired(&db, now, Self::BATCH).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "deleted expired stream tickets"),
                    Err(err) => {
                        tracing::warn!(error = %err.log_description(), "could not delete expired stream tickets; trying again at the next sweep")
                    }
                }
                let first_kept = now.date_naive() - chrono::Days::new(u64::from(usage_days));
                match crate::domain::usage::purge_before(&db, first_kept).await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::info!(deleted, "deleted field usage older than its days")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err.log_description(), "could not delete old field usage; trying again at the next sweep")
                    }
                }
            }
        }))
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        self.0.abort();
    }
}
