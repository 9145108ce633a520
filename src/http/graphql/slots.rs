//! How many subscriptions each credential holds open in this process, and the slot each one
//! holds, given back when it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open subscriptions per credential (its rate-limit bucket), in this process.
pub struct SubscriptionCounts {
    open: Arc<Mutex<HashMap<String, usize>>>,
    pub(super) max: usize,
}

/// A subscription's place among its credential's; given back when dropped.
pub(super) struct Slot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    bucket: String,
}

impl SubscriptionCounts {
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max: max.max(1),
        }
    }

    fn lock(
        open: &Mutex<HashMap<String, usize>>,
    ) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Each change is one insert or remove: a poisoned map is still consistent.
        open.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for one more subscription of `bucket`, unless it holds all it may.
    pub(super) fn open(&self, bucket: &str) -> Option<Slot> {
        let mut open = Self::lock(&self.open);
        let count = open.entry(bucket.to_owned()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: Arc::clone(&self.open),
            bucket: bucket.to_owned(),
        })
    }

    /// Subscriptions open in this process.
    pub fn total(&self) -> usize {
        Self::lock(&self.open).values().sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = SubscriptionCounts::lock(&self.open);
        if let Some(count) = open.get_mut(&self.bucket) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.bucket);
            }
        }
    }
}
