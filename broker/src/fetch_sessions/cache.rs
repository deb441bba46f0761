//! The fetch session cache: at most `max.incremental.fetch.session.cache.slots` sessions, and
//! Kafka's rules for which session a new one may displace when the cache is full
//! (`FetchSessionCacheShard.tryEvict`):
//!
//! 1. the session unused the longest goes if it has been unused for more than [`EVICTION_MS`];
//! 2. otherwise the newcomer displaces the least valuable session it may displace, if it is worth
//!    at least as much: sessions order by (privileged, partition count, id). A follower's
//!    (privileged) newcomer may displace any consumer's session; a consumer's newcomer only a
//!    session created more than [`EVICTION_MS`] ago, and only one with fewer partitions (on equal
//!    counts the newcomer's id, 0, orders first).
//!
//! Beyond Kafka, the partitions cached over all sessions are bounded ([`MAX_CACHED_PARTITIONS`]):
//! a session that would pass the bound is not created, or is closed, and its fetcher goes on with
//! full fetches. Time and randomness come from the caller.

use std::collections::{BTreeSet, HashMap};

use super::session::{FetchParams, FetchSession, PartitionAnswer, PartitionKey};

/// How long a session must be unused before any newcomer may displace it, and how old a
/// consumer's session must be before a bigger one may (Kafka's
/// `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
pub const EVICTION_MS: i64 = 120_000;

/// Partitions cached over all sessions, about 150 bytes each.
pub const MAX_CACHED_PARTITIONS: usize = 200_000;

/// A session's place among those that may be displaced: the least valuable first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Worth {
    privileged: bool,
    size: usize,
    id: i32,
}

#[derive(Debug)]
pub struct FetchSessionCache {
    max_sessions: usize,
    max_partitions: usize,
    sessions: HashMap<i32, FetchSession>,
    /// (last used, id), the least recently used first.
    last_used: BTreeSet<(i64, i32)>,
    /// Sessions any newcomer may displace if it is worth more.
    evictable_by_all: BTreeSet<Worth>,
    /// Sessions a privileged newcomer may displace if it is worth more.
    evictable_by_privileged: BTreeSet<Worth>,
    cached_partitions: usize,
    /// splitmix64 state for session ids.
    random: u64,
}

impl FetchSessionCache {
    /// A cache of at most `max_sessions` sessions; `seed` starts the session ids.
    pub fn new(max_sessions: usize, seed: u64) -> FetchSessionCache {
        FetchSessionCache::with_partition_limit(max_sessions, MAX_CACHED_PARTITIONS, seed)
    }

    fn with_partition_limit(max_sessions: usize, max_partitions: usize, seed: u64) -> FetchSessionCache {
        FetchSessionCache {
            max_sessions,
            max_partitions,
            sessions: HashMap::new(),
            last_used: BTreeSet::new(),
            evictable_by_all: BTreeSet::new(),
            evictable_by_privileged: BTreeSet::new(),
            cached_partitions: 0,
            random: seed,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Partitions cached over all sessions.
    pub fn cached_partitions(&self) -> usize {
        self.cached_partitions
    }

    /// Opens a session over a full fetch's partitions and what it answered; its id, or 0 when no
    /// session could be made room for.
    pub fn create(
        &mut self,
        now_ms: i64,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: Vec<(PartitionKey, FetchParams, PartitionAnswer)>,
    ) -> i32 {
        let size = partitions.len();
        if self.cached_partitions + size > self.max_partitions {
            tracing::debug!(size, cached = self.cached_partitions, "no fetch session: too many partitions cached");
            return 0;
        }
        let newcomer = Worth { privileged, size, id: 0 };
        if self.sessions.len() >= self.max_sessions && !self.try_evict(newcomer, now_ms) {
            return 0;
        }
        let mut session = FetchSession::new(privileged, uses_topic_ids, now_ms, partitions);
        session.id = self.new_id();
        let id = session.id;
        self.sessions.insert(id, session);
        self.touch(id, now_ms);
        tracing::debug!(id, size, privileged, "fetch session created");
        id
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut FetchSession> {
        self.sessions.get_mut(&id)
    }

    pub fn remove(&mut self, id: i32) -> Option<FetchSession> {
        let session = self.sessions.remove(&id)?;
        self.last_used.remove(&(session.last_used_ms, id));
        self.unindex(&session);
        self.cached_partitions -= session.indexed_size;
        Some(session)
    }

    /// Marks a session used at `now_ms` and indexes it under its current size. False, and the
    /// session closed, when its growth passed the bound on cached partitions.
    pub fn touch(&mut self, id: i32, now_ms: i64) -> bool {
        let Some(session) = self.sessions.get_mut(&id) else {
            return false;
        };
        self.last_used.remove(&(session.last_used_ms, id));
        session.last_used_ms = now_ms;
        self.last_used.insert((now_ms, id));
        let old = Worth { privileged: session.privileged, size: session.indexed_size, id };
        self.evictable_by_all.remove(&old);
        self.evictable_by_privileged.remove(&old);
        self.cached_partitions = self.cached_partitions - session.indexed_size + session.len();
        session.indexed_size = session.len();
        let worth = Worth { privileged: session.privileged, size: session.indexed_size, id };
        let old_enough = now_ms - session.created_ms > EVICTION_MS;
        if !session.privileged || old_enough {
            self.evictable_by_privileged.insert(worth);
        }
        if old_enough {
            self.evictable_by_all.insert(worth);
        }
        if self.cached_partitions > self.max_partitions {
            tracing::debug!(id, cached = self.cached_partitions, "fetch session closed: too many partitions cached");
            self.remove(id);
            return false;
        }
        true
    }

    fn try_evict(&mut self, newcomer: Worth, now_ms: i64) -> bool {
        let Some(&(last_used, stalest)) = self.last_used.first() else {
            return false;
        };
        if now_ms - last_used > EVICTION_MS {
            tracing::debug!(id = stalest, "fetch session evicted: unused");
            self.remove(stalest);
            return true;
        }
        let candidates = if newcomer.privileged { &self.evictable_by_privileged } else { &self.evictable_by_all };
        match candidates.first() {
            Some(&least) if newcomer >= least => {
                tracing::debug!(id = least.id, size = newcomer.size, "fetch session evicted by a more valuable one");
                self.remove(least.id);
                true
            }
            _ => false,
        }
    }

    fn unindex(&mut self, session: &FetchSession) {
        let worth = Worth { privileged: session.privileged, size: session.indexed_size, id: session.id };
        self.evictable_by_all.remove(&worth);
        self.evictable_by_privileged.remove(&worth);
    }

    /// A positive id no session has.
    fn new_id(&mut self) -> i32 {
        loop {
            self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.random;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let id = i32::try_from(z >> 33).unwrap_or(0);
            if id > 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::TopicKey;
    use super::*;

    fn partitions(n: usize) -> Vec<(PartitionKey, FetchParams, PartitionAnswer)> {
        (0..n)
            .map(|i| {
                let key = (TopicKey::Name("t".into()), i32::try_from(i).expect("small"));
                let params = FetchParams { fetch_offset: 0, max_bytes: 1024, current_leader_epoch: -1 };
                let answer = PartitionAnswer { records_len: 0, high_watermark: 0, log_start_offset: 0, error: false };
                (key, params, answer)
            })
            .collect()
    }

    #[test]
    fn a_full_cache_keeps_young_sessions_from_consumers() {
        let mut cache = FetchSessionCache::new(2, 1);
        let a = cache.create(0, false, true, partitions(1));
        let b = cache.create(0, false, true, partitions(1));
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(cache.create(1_000, false, true, partitions(5)), 0, "neither is old enough to displace");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_session_unused_too_long_makes_room() {
        let mut cache = FetchSessionCache::new(2, 1);
        let a = cache.create(0, false, true, partitions(3));
        let b = cache.create(0, false, true, partitions(3));
        assert!(cache.touch(b, 60_000));
        let c = cache.create(EVICTION_MS + 1, false, true, partitions(1));
        assert!(c > 0);
        assert!(cache.get_mut(a).is_none(), "the least recently used session went");
        assert!(cache.get_mut(b).is_some());
        assert_eq!(cache.cached_partitions(), 4);
    }

    #[test]
    fn an_old_smaller_session_gives_way_to_a_bigger_one_but_not_to_an_equal_one() {
        let mut cache = FetchSessionCache::new(1, 1);
        let a = cache.create(0, false, true, partitions(2));
        // Used recently, but created long ago: evictable by size.
        assert!(cache.touch(a, EVICTION_MS + 10));
        assert_eq!(cache.create(EVICTION_MS + 20, false, true, partitions(2)), 0, "equal size");
        let b = cache.create(EVICTION_MS + 30, false, true, partitions(3));
        assert!(b > 0);
        assert!(cache.get_mut(a).is_none());
    }

    #[test]
    fn a_follower_displaces_a_young_consumer_session_but_not_a_young_follower() {
        let mut cache = FetchSessionCache::new(1, 1);
        let consumer = cache.create(0, false, true, partitions(10));
        let follower = cache.create(1, true, true, partitions(1));
        assert!(follower > 0);
        assert!(cache.get_mut(consumer).is_none());
        assert_eq!(cache.create(2, true, true, partitions(5)), 0, "a young follower session stays");
    }

    #[test]
    fn cached_partitions_are_bounded() {
        let mut cache = FetchSessionCache::with_partition_limit(10, 5, 1);
        let a = cache.create(0, false, true, partitions(4));
        assert!(a > 0);
        assert_eq!(cache.create(0, false, true, partitions(2)), 0, "would pass the bound");
        let session = cache.get_mut(a).expect("session");
        let more = (0..3).map(|i| ((TopicKey::Name("u".into()), i), partitions(1)[0].1));
        session.update(more, []);
        assert!(!cache.touch(a, 1), "grown past the bound: closed");
        assert!(cache.is_empty());
        assert_eq!(cache.cached_partitions(), 0);
    }

    #[test]
    fn no_slots_means_no_sessions() {
        let mut cache = FetchSessionCache::new(0, 1);
        assert_eq!(cache.create(0, true, true, partitions(1)), 0);
    }
}
