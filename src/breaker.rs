//! A circuit breaker for a dependency that may go away (Redis, the JWKS host): after a failed
//! call it stays open for a backoff that doubles up to a cap, then lets one call through as a
//! probe; a success closes it. Callers do without the dependency while it is open, so a dead
//! dependency costs a request nothing and is not asked on every request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Breaker {
    min: Duration,
    max: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Failed calls in a row; 0 while closed.
    failures: u32,
    /// No call before this while open.
    retry_at: Option<Instant>,
    /// A probe is out: the others wait for its outcome.
    probing: bool,
}

/// Leave to call the dependency; say how the call went with `succeeded` or `failed`. A probe
/// dropped without either (its request was cancelled) lets the next call probe.
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

/// What a failed call did to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The dependency was up until this failure.
    pub was_up: bool,
    /// How long until the next probe.
    pub backoff: Duration,
}

impl Breaker {
    /// A breaker whose backoff starts at `min` and doubles up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leave to call now: always while closed; while open, once the backoff is over, for one
    /// probe at a time.
    pub fn permit(&self) -> Option<Permit<'_>> {
        let mut state = self.state();
        if state.failures == 0 {
            return Some(Permit {
                breaker: self,
                probe: false,
                settled: false,
            });
        }
        if state.probing || state.retry_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        state.probing = true;
        Some(Permit {
            breaker: self,
            probe: true,
            settled: false,
        })
    }

    /// Whether the last call succeeded (or none was made yet).
    pub fn is_up(&self) -> bool {
        self.state().failures == 0
    }

    /// How long until the next probe may go (zero while closed).
    pub fn retry_in(&self) -> Duration {
        self.state().retry_at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        })
    }
}

impl Permit<'_> {
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut state = self.breaker.state();
        *state = State::default();
    }

    /// Opens the breaker (or keeps it open, backing off further after a failed probe). A call
    /// that went out before another one opened it changes nothing.
    pub fn failed(mut self) -> Opened {
        self.settled = true;
        let breaker = self.breaker;
        let mut state = breaker.state();
        let was_up = state.failures == 0;
        if self.probe || was_up {
            state.failures = state.failures.saturating_add(1);
            let doublings = (state.failures - 1).min(20);
            let backoff = breaker.min.saturating_mul(1 << doublings).min(breaker.max);
            state.retry_at = Some(Instant::now() + backoff);
            state.probing = false;
        }
        Opened {
            was_up,
            backoff: state.retry_at.map_or(Duration::ZERO, |at| {
                at.saturating_duration_since(Instant::now())
            }),
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            self.breaker.state().probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_doubling_to_the_cap_then_probes_once_and_closes_on_success() {
        let breaker = Breaker::new(Duration::from_millis(40), Duration::from_millis(100));
        let opened = breaker.permit().expect("closed").failed();
        assert!(opened.was_up && opened.backoff <= Duration::from_millis(40));
        assert!(!breaker.is_up());
        assert!(breaker.permit().is_none(), "open during the backoff");
        std::thread::sleep(Duration::from_millis(45));
        let probe = breaker.permit().expect("a probe after the backoff");
        assert!(breaker.permit().is_none(), "one probe at a time");
        let opened = probe.failed();
        assert!(!opened.was_up);
        assert!(opened.backoff > Duration::from_millis(40), "{opened:?}");
        std::thread::sleep(Duration::from_millis(85));
        let opened = breaker.permit().expect("probe").failed();
        assert!(
            opened.backoff <= Duration::from_millis(100),
            "capped: {opened:?}"
        );
        std::thread::sleep(Duration::from_millis(105));
        // A probe whose request went away lets the next call probe.
        drop(breaker.permit().expect("probe"));
        breaker.permit().expect("probe again").succeeded();
        assert!(breaker.is_up());
        assert!(breaker.permit().is_some() && breaker.permit().is_some());
    }
}
