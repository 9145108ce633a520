//! Tasks tied to an owner's life.

/// A spawned task aborted when this handle is dropped: it lives as long as whoever holds it.
pub struct AbortOnDrop<T = ()>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
