//! `rateLimit` (GitHub's shape): the caller's cost bucket as this operation found it, once its
//! requested cost was reserved. It costs nothing itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::types::Timestamp;

/// What the operation reserved and what its bucket held then, put in the request by the
/// pipeline; counts the `rateLimit` objects it served, which the actual cost leaves out.
#[derive(Debug, Clone)]
pub struct Budget(Arc<Reserved>);

#[derive(Debug)]
struct Reserved {
    limit: u64,
    cost: u64,
    remaining: u64,
    reset_at: DateTime<Utc>,
    served: AtomicU64,
}

impl Budget {
    /// A bucket of `limit` points holding `remaining` once `cost` was taken, full again after
    /// `until_full`.
    pub fn new(limit: u64, cost: u64, remaining: u64, until_full: Duration) -> Self {
        let until_full = chrono::Duration::from_std(until_full).unwrap_or(chrono::Duration::MAX);
        let reset_at = Utc::now()
            .checked_add_signed(until_full)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Self(Arc::new(Reserved {
            limit,
            cost,
            remaining: remaining.min(limit),
            reset_at,
            served: AtomicU64::new(0),
        }))
    }

    /// The `rateLimit` objects the response holds, which cost nothing.
    pub fn served(&self) -> u64 {
        self.0.served.load(Ordering::Relaxed)
    }

    /// The same bucket for another run of the operation (a live query's), none served yet.
    pub fn again(&self) -> Self {
        let r = &self.0;
        Self(Arc::new(Reserved {
            served: AtomicU64::new(0),
            ..**r
        }))
    }
}

#[derive(Default)]
pub struct RateLimitQuery;

#[Object]
impl RateLimitQuery {
    /// The caller's rate-limit bucket for this operation: its size, what this operation
    /// reserved, what is left after that and when the bucket is full again. The unused part of
    /// the reservation goes back once the operation has run (`extensions.cost`). Costs nothing.
    async fn rate_limit(&self, ctx: &Context<'_>) -> Option<RateLimit> {
        let budget = ctx.data_opt::<Budget>()?;
        budget.0.served.fetch_add(1, Ordering::Relaxed);
        let r = &budget.0;
        Some(RateLimit {
            limit: int(r.limit),
            cost: int(r.cost),
            remaining: int(r.remaining),
            used: int(r.limit - r.remaining),
            reset_at: r.reset_at.into(),
        })
    }
}

/// The caller's rate-limit bucket, in cost points.
#[derive(SimpleObject)]
pub struct RateLimit {
    /// The points a full bucket holds.
    limit: i32,
    /// The requested cost of this operation (`extensions.cost.requestedQueryCost`).
    cost: i32,
    /// The points left once this operation's requested cost was taken.
    remaining: i32,
    /// The points used: `limit` less `remaining`.
    used: i32,
    /// When the bucket is full again if nothing more is taken.
    reset_at: Timestamp,
}

fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
