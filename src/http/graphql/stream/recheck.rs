//! The credentials of running subscriptions made with API keys, checked again every second —
//! once for each credential, however many subscriptions it holds — so that a revoked key's
//! subscriptions end within a second or so. A fleet of ten thousand subscriptions of one key
//! is one check a second, not ten thousand timers waking ten thousand connections to make the
//! same one.
//!
//! A subscription holds a [`Flag`] from [`Rechecks::watch`]: raised, with the refusal, when
//! its credential is refused (401 or 403); a check that couldn't be made (the database down)
//! raises nothing, and is made again a second later. The checking task runs while any
//! subscription is watched, and stops with the last.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::Poll;
use std::time::Duration;

use axum::http::StatusCode;
use futures_util::stream::StreamExt;
use futures_util::task::AtomicWaker;
use uuid::Uuid;

use super::super::super::AppState;
use super::super::super::auth::Presented;
use super::super::super::pipeline;
use crate::code::Code;
use crate::locks::lock;

/// How often each credential is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Credentials checked at once (each a cache lookup, or a read when its key isn't cached).
const CONCURRENT_CHECKS: usize = 16;

/// What a credential is checked as: the token and the organization it asked to act in.
type Credential = (String, Option<Uuid>);

/// The credentials watched now, and whether their checking task runs.
#[derive(Default)]
pub struct Rechecks(Mutex<Watched>);

#[derive(Default)]
struct Watched {
    credentials: HashMap<Credential, Watchers>,
    checking: bool,
}

struct Watchers {
    presented: Presented,
    flags: Vec<Weak<Flag>>,
}

/// Raised when a subscription's credential is refused.
#[derive(Default)]
pub(super) struct Flag {
    refused: OnceLock<(String, Code)>,
    waker: AtomicWaker,
}

impl Flag {
    /// Ready with the refusal (its message and code) once the credential is refused.
    pub(super) async fn refused(&self) -> (&str, Code) {
        poll_fn(|cx| {
            if let Some((message, code)) = self.refused.get() {
                return Poll::Ready((message.as_str(), *code));
            }
            self.waker.register(cx.waker());
            // Raised between the look and the registration: seen now.
            match self.refused.get() {
                Some((message, code)) => Poll::Ready((message.as_str(), *code)),
                None => Poll::Pending,
            }
        })
        .await
    }

    fn raise(&self, message: &str, code: Code) {
        let _ = self.refused.set((message.to_owned(), code));
        self.waker.wake();
    }
}

impl Rechecks {
    /// A flag raised when `presented` (an API key's request) is refused, checked every second
    /// while the flag is held; `None` when it presents no credential to check.
    pub(super) fn watch(&self, state: &AppState, presented: &Presented) -> Option<Arc<Flag>> {
        let credentials = presented.credentials().ok()?;
        let credential = (credentials.token.clone()?, credentials.organization);
        let flag = Arc::new(Flag::default());
        let mut watched = lock(&self.0);
        watched
            .credentials
            .entry(credential)
            .or_insert_with(|| Watchers {
                presented: presented.clone(),
                flags: Vec::new(),
            })
            .flags
            .push(Arc::downgrade(&flag));
        if !watched.checking {
            watched.checking = true;
            tokio::spawn(check(state.clone()));
        }
        Some(flag)
    }
}

/// Checks every watched credential each second, until none is watched.
async fn check(state: AppState) {
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + CHECK_EVERY, CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let due: Vec<(Credential, Presented)> = {
            let mut watched = lock(&state.rechecks.0);
            // Subscriptions that ended let go of their flags.
            watched.credentials.retain(|_, watchers| {
                watchers.flags.retain(|flag| flag.strong_count() > 0);
                !watchers.flags.is_empty()
            });
            if watched.credentials.is_empty() {
                // Stopped under the lock: the next to watch starts it again.
                watched.checking = false;
                return;
            }
            watched
                .credentials
                .iter()
                .map(|(credential, watchers)| (credential.clone(), watchers.presented.clone()))
                .collect()
        };
        futures_util::stream::iter(due)
            .for_each_concurrent(CONCURRENT_CHECKS, |(credential, presented)| {
                let state = &state;
                async move {
                    let error = match pipeline::identify(state, &presented).await {
                        Err(error)
                            if matches!(
                                error.status,
                                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                            ) =>
                        {
                            error
                        }
                        // Unchecked (the database is down) is not revoked: checked again later.
                        _ => return,
                    };
                    let refused = lock(&state.rechecks.0).credentials.remove(&credential);
                    for flag in refused.iter().flat_map(|w| &w.flags) {
                        if let Some(flag) = flag.upgrade() {
                            flag.raise(&error.message, error.code);
                        }
                    }
                }
            })
            .await;
    }
}
