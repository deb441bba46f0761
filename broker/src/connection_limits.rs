//! Limits on what clients may hold: connections per client address (Kafka's
//! `max.connections.per.ip` and its overrides) and request bytes in flight across all connections
//! (Kafka's `queued.max.request.bytes`). `max.connections` itself is the accept loop's semaphore in
//! [`crate::server`]. Shared by every connection; the per-address counts sit behind one mutex that
//! is held only to count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

use crate::settings::Settings;

/// Live connections per client address; an address leaves the map with its last connection.
#[derive(Debug, Default)]
pub struct PerIpCounts {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's place in [`PerIpCounts`], given back when dropped.
#[derive(Debug)]
pub struct IpSlot {
    counts: Arc<PerIpCounts>,
    address: IpAddr,
}

impl PerIpCounts {
    /// Counts a new connection from `address`, or `None` if that address already holds `limit`.
    pub fn admit(self: &Arc<Self>, address: IpAddr, limit: usize) -> Option<IpSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                counts.remove(&address);
            }
            return None;
        }
        *count += 1;
        Some(IpSlot { counts: Arc::clone(self), address })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.counts.lock().unwrap_or_else(PoisonError::into_inner);
        // An address with a live slot is in the map with a count of at least one.
        let left = counts.get_mut(&self.address).map(|count| {
            *count -= 1;
            *count
        });
        assert!(left.is_some(), "a slot of {} was not counted", self.address);
        if left == Some(0) {
            counts.remove(&self.address);
        }
    }
}

/// Kafka's `queued.max.request.bytes`: bytes of request frames read and not yet handled, all
/// connections together. A frame takes its size (at most the whole budget, so a frame larger than
/// the budget still goes through, alone) before its body is read, as Kafka's memory pool does,
/// so a frame that got its share can always be completed.
#[derive(Debug, Clone)]
pub struct RequestBytes {
    budget: Option<Arc<Semaphore>>,
    share_max: u32,
}

impl RequestBytes {
    pub fn new(settings: &Settings) -> RequestBytes {
        match usize::try_from(settings.queued_max_request_bytes) {
            Ok(max) => {
                let max = max.clamp(1, Semaphore::MAX_PERMITS);
                let share_max = u32::try_from(max).unwrap_or(u32::MAX);
                RequestBytes { budget: Some(Arc::new(Semaphore::new(max))), share_max }
            }
            // -1: no limit.
            Err(_) => RequestBytes { budget: None, share_max: 0 },
        }
    }

    /// Waits until a frame of `len` bytes fits; the permit gives its share back when dropped.
    pub async fn acquire(&self, len: usize) -> Result<Option<OwnedSemaphorePermit>, AcquireError> {
        let Some(budget) = &self.budget else { return Ok(None) };
        let share = u32::try_from(len).unwrap_or(u32::MAX).clamp(1, self.share_max);
        Arc::clone(budget).acquire_many_owned(share).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_limit_and_gets_slots_back() {
        let counts = Arc::new(PerIpCounts::default());
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().expect("ip"), "127.0.0.2".parse().expect("ip"));
        let first = counts.admit(a, 2).expect("first");
        let second = counts.admit(a, 2).expect("second");
        assert!(counts.admit(a, 2).is_none());
        assert!(counts.admit(b, 0).is_none());
        assert!(!counts.counts.lock().expect("lock").contains_key(&b), "a refused address is not kept");
        let other = counts.admit(b, 1).expect("another address");
        drop(first);
        let third = counts.admit(a, 2).expect("a slot came back");
        assert_eq!(counts.counts.lock().expect("lock").get(&a), Some(&2));
        drop((second, third, other));
        assert!(counts.counts.lock().expect("lock").is_empty(), "addresses leave with their last connection");
    }
}
