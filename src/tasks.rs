//! Tasks tied to an owner's life.

/// A spawned task aborted when this handle is dropped: it lives as long as whoever holds it.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
