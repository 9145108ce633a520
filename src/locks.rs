//! Locking a mutex whose every change is whole (one insert or remove, one value replaced):
//! a panic while it was held leaves it consistent, so a poisoned lock is still usable.

/// The guard of `mutex`, poisoned or not.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
