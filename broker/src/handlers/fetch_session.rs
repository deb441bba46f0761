//! What a Fetch request means for fetch sessions (KIP-227, Kafka's `FetchManager.newContext`),
//! and what its answer leaves in the session cache.
//!
//! - Fetch v0-6, and epoch -1 (FINAL): no session; a session id in the request is closed.
//! - Epoch 0 (INITIAL): a full fetch; a session id in the request is closed, and a new session
//!   over the request's partitions is opened once they are answered (its id goes in the answer; 0
//!   when the cache has no room).
//! - Any other epoch: an incremental fetch in that session, which must exist
//!   (FETCH_SESSION_ID_NOT_FOUND), expect this epoch (INVALID_FETCH_SESSION_EPOCH) and name topics
//!   the same way, by id from v13 (FETCH_SESSION_TOPIC_ID_ERROR). Its partitions and forgotten
//!   topics update the session, every partition of the session is read, and the answer carries
//!   only those with news. A session left empty is closed and the request answered without one.

use std::sync::{MutexGuard, PoisonError};

use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::fetch_sessions::{FetchParams, FetchSessionCache, PartitionAnswer, PartitionKey, SessionError, TopicKey};
use crate::state::Broker;

/// First Fetch version with fetch sessions.
const SESSION_VERSION_MIN: i16 = 7;
/// First Fetch version that names topics by id.
pub const TOPIC_ID_VERSION_MIN: i16 = 13;
/// The epoch of a full fetch that opens a session.
const INITIAL_EPOCH: i32 = 0;
/// The epoch of a full fetch that wants no session.
const FINAL_EPOCH: i32 = -1;

/// How a Fetch request is served.
#[derive(Debug)]
pub enum Plan {
    /// Answer the request's partitions, with session id 0.
    Sessionless,
    /// Answer the request's partitions, then open a session over them.
    Full,
    /// Read every partition of session `id` (in its order) and answer those with news.
    Incremental { id: i32, epoch: i32, partitions: Vec<(PartitionKey, FetchParams)> },
}

/// Decides how `req` is served, updating the session cache as Kafka does before the read.
pub fn plan(broker: &Broker, version: i16, req: &FetchRequest, now_ms: i64) -> Result<Plan, SessionError> {
    if version < SESSION_VERSION_MIN {
        return Ok(Plan::Sessionless);
    }
    if req.session_epoch == INITIAL_EPOCH || req.session_epoch == FINAL_EPOCH {
        // A full fetch naming no session (every fetch of a client without sessions) leaves the
        // cache alone, so it never waits for its lock.
        if req.session_id != 0 && lock(broker).remove(req.session_id).is_some() {
            tracing::debug!(id = req.session_id, "fetch session closed by a full fetch");
        }
        return Ok(if req.session_epoch == FINAL_EPOCH { Plan::Sessionless } else { Plan::Full });
    }
    let mut cache = lock(broker);
    let id = req.session_id;
    let session = cache.get_mut(id).ok_or(SessionError::NotFound)?;
    if session.epoch() != req.session_epoch {
        return Err(SessionError::InvalidEpoch);
    }
    let by_id = version >= TOPIC_ID_VERSION_MIN;
    if session.uses_topic_ids() != by_id {
        return Err(SessionError::TopicIdMismatch);
    }
    let fetch = req.topics.iter().flat_map(|t| {
        let topic = topic_key(by_id, &t.topic, t.topic_id);
        t.partitions.iter().map(move |p| ((topic.clone(), p.partition), params(p)))
    });
    let forget = req.forgotten_topics_data.iter().flat_map(|t| {
        let topic = topic_key(by_id, &t.topic, t.topic_id);
        t.partitions.iter().map(move |p| (topic.clone(), *p))
    });
    session.update(fetch, forget);
    if session.is_empty() {
        cache.remove(id);
        return Ok(Plan::Sessionless);
    }
    let epoch = session.advance_epoch();
    let partitions = session.partitions();
    if !cache.touch(id, now_ms) {
        return Err(SessionError::NotFound);
    }
    Ok(Plan::Incremental { id, epoch, partitions })
}

/// How a session names a topic a request names by `name` or `id` (by id from Fetch v13).
pub fn topic_key(by_id: bool, name: &TopicName, id: Uuid) -> TopicKey {
    if by_id { TopicKey::Id(id) } else { TopicKey::Name(name.0.as_str().into()) }
}

/// What a request asks of one partition.
pub fn params(partition: &FetchPartition) -> FetchParams {
    FetchParams {
        fetch_offset: partition.fetch_offset,
        max_bytes: partition.partition_max_bytes,
        current_leader_epoch: partition.current_leader_epoch,
    }
}

/// The name and id a response gives a session's topic.
pub fn topic_name_and_id(key: &TopicKey) -> (TopicName, Uuid) {
    match key {
        TopicKey::Id(id) => (TopicName::default(), *id),
        TopicKey::Name(name) => (TopicName(StrBytes::from_string(name.to_string())), Uuid::nil()),
    }
}

fn lock(broker: &Broker) -> MutexGuard<'_, FetchSessionCache> {
    broker.fetch_sessions.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens the session of a full fetch over what it answered; its id, or 0.
pub fn open(
    broker: &Broker,
    privileged: bool,
    by_id: bool,
    now_ms: i64,
    answered: Vec<(PartitionKey, FetchParams, PartitionAnswer)>,
) -> i32 {
    lock(broker).create(now_ms, privileged, by_id, answered)
}

/// Which partitions of an incremental answer it carries: those with news (in the order given,
/// true for each that stays). The session remembers what they tell.
pub fn select(
    broker: &Broker,
    id: i32,
    epoch: i32,
    answered: impl Iterator<Item = (PartitionKey, PartitionAnswer)>,
) -> Result<Vec<bool>, SessionError> {
    let mut cache = lock(broker);
    let session = cache.get_mut(id).ok_or(SessionError::NotFound)?;
    if session.epoch() != epoch {
        // Another request used the session while this one waited.
        return Err(SessionError::InvalidEpoch);
    }
    Ok(answered.map(|(key, answer)| session.select(&key, &answer)).collect())
}
