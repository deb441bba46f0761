//! One fetch session: the partitions a fetcher reads, in the order the broker reads them, with
//! what it asked of each (offset, byte limit, leader epoch) and what it was last told (high
//! watermark, log start offset), as Kafka's `FetchSession` and `CachedPartition`.
//!
//! An incremental request names only the partitions whose parameters changed ([`Self::update`]);
//! the others are read with their cached parameters. Its response carries only the partitions
//! with something new ([`Self::select`]): records, a moved high watermark or log start offset, or
//! an error. A partition that is answered moves to the end of the order, so that under a tight
//! `max_bytes` every partition gets its turn.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

/// A topic as a session names it: by id from Fetch v13 on, by name before (shared, as every
/// partition of the topic holds it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicKey {
    Id(Uuid),
    Name(Arc<str>),
}

/// One partition of a session.
pub type PartitionKey = (TopicKey, i32);

/// What a fetcher asks of one partition, kept between its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchParams {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
}

/// What one answer says of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionAnswer {
    pub records_len: usize,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error: bool,
}

/// What the session last told the fetcher about a partition; -1 before the first answer, so the
/// first always includes it.
#[derive(Debug, Clone, Copy)]
struct Told {
    high_watermark: i64,
    log_start_offset: i64,
}

const NOT_TOLD: Told = Told { high_watermark: -1, log_start_offset: -1 };

#[derive(Debug)]
struct Cached {
    /// Its place in the read order (a key of `FetchSession::order`).
    place: u64,
    params: FetchParams,
    told: Told,
}

/// A fetch session. Its id, epoch and times are kept by [`super::FetchSessionCache`].
#[derive(Debug)]
pub struct FetchSession {
    pub(super) id: i32,
    /// The epoch the next incremental request must carry.
    pub(super) epoch: i32,
    /// Opened by a follower (a replica fetch): may displace consumers' sessions.
    pub(super) privileged: bool,
    /// Opened by Fetch v13 or later: partitions are named by topic id.
    pub(super) uses_topic_ids: bool,
    pub(super) created_ms: i64,
    pub(super) last_used_ms: i64,
    /// The size the cache last indexed the session under.
    pub(super) indexed_size: usize,
    partitions: HashMap<PartitionKey, Cached>,
    order: BTreeMap<u64, PartitionKey>,
    next_place: u64,
}

impl FetchSession {
    /// A session over the partitions of a full fetch, in request order, with what it answered.
    pub(super) fn new(
        privileged: bool,
        uses_topic_ids: bool,
        now_ms: i64,
        partitions: Vec<(PartitionKey, FetchParams, PartitionAnswer)>,
    ) -> FetchSession {
        let mut session = FetchSession {
            id: 0,
            epoch: 1,
            privileged,
            uses_topic_ids,
            created_ms: now_ms,
            last_used_ms: now_ms,
            indexed_size: 0,
            partitions: HashMap::with_capacity(partitions.len()),
            order: BTreeMap::new(),
            next_place: 0,
        };
        for (key, params, answer) in partitions {
            let told = if answer.error {
                NOT_TOLD
            } else {
                Told { high_watermark: answer.high_watermark, log_start_offset: answer.log_start_offset }
            };
            session.insert(key, params, told);
        }
        session
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// The epoch the next incremental request must carry.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Whether the session names topics by id (opened by Fetch v13 or later).
    pub fn uses_topic_ids(&self) -> bool {
        self.uses_topic_ids
    }

    /// Moves on to the epoch the request after this one must carry (1 follows `i32::MAX`) and
    /// returns it.
    pub fn advance_epoch(&mut self) -> i32 {
        self.epoch = if self.epoch == i32::MAX { 1 } else { self.epoch + 1 };
        self.epoch
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Applies an incremental request: `fetch` adds partitions or changes their parameters,
    /// `forget` removes partitions (a partition both fetched and forgotten is removed).
    pub fn update(
        &mut self,
        fetch: impl IntoIterator<Item = (PartitionKey, FetchParams)>,
        forget: impl IntoIterator<Item = PartitionKey>,
    ) {
        for (key, params) in fetch {
            match self.partitions.get_mut(&key) {
                Some(cached) => cached.params = params,
                None => self.insert(key, params, NOT_TOLD),
            }
        }
        for key in forget {
            if let Some(cached) = self.partitions.remove(&key) {
                self.order.remove(&cached.place);
            }
        }
    }

    /// Every partition with its parameters, in read order.
    pub fn partitions(&self) -> Vec<(PartitionKey, FetchParams)> {
        self.order
            .values()
            .filter_map(|key| self.partitions.get(key).map(|cached| (key.clone(), cached.params)))
            .collect()
    }

    /// Whether an incremental response must carry this partition's answer (Kafka's
    /// `maybeUpdateResponseData`); if so, remembers what it tells and moves the partition to the
    /// end of the read order. A partition with an error is always carried, and again once the
    /// error is gone.
    pub fn select(&mut self, key: &PartitionKey, answer: &PartitionAnswer) -> bool {
        let Some(cached) = self.partitions.get_mut(key) else {
            // Forgotten while this fetch waited: nothing to tell.
            return false;
        };
        let mut carry = answer.records_len > 0;
        if cached.told.high_watermark != answer.high_watermark {
            carry = true;
            cached.told.high_watermark = answer.high_watermark;
        }
        if cached.told.log_start_offset != answer.log_start_offset {
            carry = true;
            cached.told.log_start_offset = answer.log_start_offset;
        }
        if answer.error {
            carry = true;
            cached.told.high_watermark = -1;
        }
        if carry {
            let old = cached.place;
            cached.place = self.next_place;
            self.order.remove(&old);
            self.order.insert(self.next_place, key.clone());
            self.next_place += 1;
        }
        carry
    }

    fn insert(&mut self, key: PartitionKey, params: FetchParams, told: Told) {
        if let Some(cached) = self.partitions.get_mut(&key) {
            // Named twice in one full fetch: the last parameters win, as in Kafka's map.
            cached.params = params;
            cached.told = told;
            return;
        }
        let place = self.next_place;
        self.next_place += 1;
        self.order.insert(place, key.clone());
        self.partitions.insert(key, Cached { place, params, told });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, partition: i32) -> PartitionKey {
        (TopicKey::Name(name.into()), partition)
    }

    fn params(fetch_offset: i64) -> FetchParams {
        FetchParams { fetch_offset, max_bytes: 1 << 20, current_leader_epoch: -1 }
    }

    fn answer(records_len: usize, high_watermark: i64) -> PartitionAnswer {
        PartitionAnswer { records_len, high_watermark, log_start_offset: 0, error: false }
    }

    fn session(keys: &[PartitionKey]) -> FetchSession {
        let partitions = keys.iter().map(|k| (k.clone(), params(0), answer(0, 10))).collect();
        FetchSession::new(false, false, 0, partitions)
    }

    fn order(session: &FetchSession) -> Vec<PartitionKey> {
        session.partitions().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn unchanged_partitions_are_left_out_and_changed_ones_move_last() {
        let (a, b, c) = (key("t", 0), key("t", 1), key("u", 0));
        let mut s = session(&[a.clone(), b.clone(), c.clone()]);
        assert!(!s.select(&a, &answer(0, 10)), "nothing new");
        assert!(s.select(&a, &answer(0, 11)), "the high watermark moved");
        assert!(!s.select(&a, &answer(0, 11)), "told already");
        assert!(s.select(&b, &answer(100, 10)), "records");
        assert_eq!(order(&s), vec![c, a, b]);
    }

    #[test]
    fn errors_are_carried_and_so_is_their_end() {
        let a = key("t", 0);
        let mut s = session(std::slice::from_ref(&a));
        let failed = PartitionAnswer { records_len: 0, high_watermark: -1, log_start_offset: -1, error: true };
        assert!(s.select(&a, &failed));
        assert!(s.select(&a, &failed), "every answer with an error is carried");
        assert!(s.select(&a, &answer(0, 10)), "the first answer after the error is carried");
        assert!(!s.select(&a, &answer(0, 10)));
    }

    #[test]
    fn update_adds_changes_and_forgets() {
        let (a, b, c) = (key("t", 0), key("t", 1), key("t", 2));
        let mut s = session(&[a.clone(), b.clone()]);
        s.update([(b.clone(), params(7)), (c.clone(), params(3))], [a.clone()]);
        assert_eq!(s.partitions(), vec![(b.clone(), params(7)), (c.clone(), params(3))]);
        assert!(s.select(&c, &answer(0, 10)), "a new partition is answered once");
        assert!(!s.select(&a, &answer(5, 10)), "a forgotten partition is not answered");
        s.update([], [b, c]);
        assert!(s.is_empty());
    }
}
