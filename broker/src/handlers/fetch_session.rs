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

use std::sync::PoisonError;

use kafka_protocol::messages::FetchRequest;
use kafka_protocol::messages::fetch_request::FetchTopic;
use uuid::Uuid;

use crate::fetch_sessions::{FetchParams, PartitionAnswer, PartitionKey, SessionError, TopicKey};
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
    let mut cache = broker.fetch_sessions.lock().unwrap_or_else(PoisonError::into_inner);
    if req.session_epoch == INITIAL_EPOCH || req.session_epoch == FINAL_EPOCH {
        if req.session_id != 0 && cache.remove(req.session_id).is_some() {
            tracing::debug!(id = req.session_id, "fetch session closed by a full fetch");
        }
        return Ok(if req.session_epoch == FINAL_EPOCH { Plan::Sessionless } else { Plan::Full });
    }
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
        let topic = topic_key(by_id, t);
        t.partitions.iter().map(move |p| {
            let params = FetchParams {
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
            };
            ((topic.clone(), p.partition), params)
        })
    });
    let forget = req.forgotten_topics_data.iter().flat_map(|t| {
        let topic = if by_id { TopicKey::Id(t.topic_id) } else { TopicKey::Name(t.topic.0.as_str().into()) };
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

/// How a session names `topic` of a request.
pub fn topic_key(by_id: bool, topic: &FetchTopic) -> TopicKey {
    if by_id { TopicKey::Id(topic.topic_id) } else { TopicKey::Name(topic.topic.0.as_str().into()) }
}

/// The name and id a response gives a session's topic.
pub fn topic_name_and_id(key: &TopicKey) -> (String, Uuid) {
    match key {
        TopicKey::Id(id) => (String::new(), *id),
        TopicKey::Name(name) => (name.to_string(), Uuid::nil()),
    }
}

/// Opens the session of a full fetch over what it answered; its id, or 0.
pub fn open(
    broker: &Broker,
    privileged: bool,
    by_id: bool,
    now_ms: i64,
    answered: Vec<(PartitionKey, FetchParams, PartitionAnswer)>,
) -> i32 {
    let mut cache = broker.fetch_sessions.lock().unwrap_or_else(PoisonError::into_inner);
    cache.create(now_ms, privileged, by_id, answered)
}

/// Which partitions of an incremental answer it carries: those with news (in the order given,
/// true for each that stays). The session remembers what they tell.
pub fn select(
    broker: &Broker,
    id: i32,
    epoch: i32,
    answered: impl Iterator<Item = (PartitionKey, PartitionAnswer)>,
) -> Result<Vec<bool>, SessionError> {
    let mut cache = broker.fetch_sessions.lock().unwrap_or_else(PoisonError::into_inner);
    let session = cache.get_mut(id).ok_or(SessionError::NotFound)?;
    if session.epoch() != epoch {
        // Another request used the session while this one waited.
        return Err(SessionError::InvalidEpoch);
    }
    Ok(answered.map(|(key, answer)| session.select(&key, &answer)).collect())
}
