//! A job that follows commits: a writer that has committed asks for it and waits until a run
//! begun after its commit has ended. Runs go one at a time, so one run serves every writer that
//! asked while the one before it ran (as PostgreSQL's group commit serves many commits with
//! one flush), however many writers there are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::Signals;

/// The job: the organizations whose readers it has news for, or `None` when it failed (it
/// logs why).
pub type Job = fn(DatabaseConnection) -> BoxFuture<'static, Option<Vec<Uuid>>>;

/// How long a writer waits for a run before it answers anyway: its write has committed, and
/// a later run does the job for it. Well within the shortest request timeout (1 s), so that a
/// write that committed is never answered as timed out (and retried, and made twice).
const WAIT: Duration = Duration::from_millis(500);

/// How often the job runs with nobody asking: it does what a process that died between its
/// commit and the run left undone.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// After a run that failed, the next waits this long (the database is likely away).
const AFTER_FAILURE: Duration = Duration::from_millis(200);

pub(super) struct Followup {
    conn: DatabaseConnection,
    /// The run that begins next: a writer that read it after its commit is served by it.
    next: AtomicU64,
    /// The last run that has ended.
    done: watch::Sender<u64>,
    wake: Arc<Notify>,
    started: Once,
}

impl Followup {
    pub(super) fn new(conn: DatabaseConnection) -> Self {
        Self {
            conn,
            next: AtomicU64::new(1),
            done: watch::Sender::new(0),
            wake: Arc::new(Notify::new()),
            started: Once::new(),
        }
    }
}

impl Signals {
    /// Asks for a run of `job` begun after this call and waits for it to end (at most `WAIT`).
    /// The first call starts the loop that runs it, if `start_following` hasn't; the same
    /// `job` every time.
    pub async fn follow_commit(self: &Arc<Self>, job: Job) {
        self.start_following(job);
        let followup = &self.followup;
        let mut done = followup.done.subscribe();
        let wanted = followup.next.load(Ordering::SeqCst);
        followup.wake.notify_one();
        // A run that never comes (the loop gone with its app) is the same as one too slow.
        let _ = tokio::time::timeout(WAIT, done.wait_for(|done| *done >= wanted)).await;
    }

    /// Starts the loop that runs `job` (once; later calls do nothing), so that it also runs
    /// every `SWEEP_EVERY` in a process that writes nothing.
    pub fn start_following(self: &Arc<Self>, job: Job) {
        let followup = &self.followup;
        followup.started.call_once(|| {
            tokio::spawn(runs(Arc::downgrade(self), Arc::clone(&followup.wake), job));
        });
    }
}

/// Runs `job` whenever asked (and every `SWEEP_EVERY`), one run at a time, until the signals
/// it serves are dropped.
async fn runs(signals: Weak<Signals>, wake: Arc<Notify>, job: Job) {
    loop {
        let _ = tokio::time::timeout(SWEEP_EVERY, wake.notified()).await;
        let Some(signals) = signals.upgrade() else {
            return;
        };
        let followup = &signals.followup;
        let run = followup.next.fetch_add(1, Ordering::SeqCst);
        let outcome = job(followup.conn.clone()).await;
        // Writers are answered either way: a failed run's work is done by a later one.
        followup.done.send_replace(run);
        match outcome {
            Some(organizations) => {
                for organization in organizations {
                    signals.committed(organization);
                }
            }
            None => tokio::time::sleep(AFTER_FAILURE).await,
        }
    }
}
