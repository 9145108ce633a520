//! How many connections each client address holds, bounded by `max_connections_per_ip`, and
//! the rate-limited log of refusals over the bound.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::net::ClientKey;

/// Refusals over the per-address bound are warned about at most this often, so that a client
/// hammering the bound cannot flood the log.
const REFUSAL_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Open connections per client. Only clients with an open connection have an entry, so the map is
/// no larger than the number of open connections.
pub(super) struct PerAddress {
    pub(super) max: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
}

impl PerAddress {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, usize>> {
        // Counts only: still right if a holder panicked.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn try_acquire(self: &Arc<Self>, key: ClientKey) -> Option<Permit> {
        let mut open = self.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Permit {
            per_address: Arc::clone(self),
            key,
        })
    }
}

/// One open connection in the per-address count.
pub(super) struct Permit {
    per_address: Arc<PerAddress>,
    key: ClientKey,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Entry::Occupied(mut entry) = self.per_address.lock().entry(self.key) {
            let count = entry.get_mut();
            *count = count.saturating_sub(1);
            if *count == 0 {
                entry.remove();
            }
        }
    }
}

#[derive(Default)]
pub(super) struct RefusalLog {
    last_warned: Option<Instant>,
    unreported: u64,
}

impl RefusalLog {
    pub(super) fn record(&mut self, ip: IpAddr, max: usize) {
        tracing::debug!(client = %ip, "refused connection: too many open from this address");
        self.unreported += 1;
        let now = Instant::now();
        if self
            .last_warned
            .is_some_and(|last| now.duration_since(last) < REFUSAL_WARN_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            refused = self.unreported,
            latest_client = %ip,
            max_connections_per_ip = max,
            "refused connections over the per-address bound (reported at most every 10 s)"
        );
        self.last_warned = Some(now);
        self.unreported = 0;
    }
}
