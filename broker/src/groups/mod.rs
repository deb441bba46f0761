//! The group coordinator driver: the one [`strata_groups::Coordinator`] of this broker, the
//! `__consumer_offsets` topic it persists to, and the plumbing that carries out its effects.
//!
//! - The coordinator sits behind an async mutex, held for a few microseconds per call. Records are
//!   queued to the log *under* that lock, so the log's order is the coordinator's order; the wait
//!   for the write happens after. An append that must wait for room hands its runtime worker over
//!   (`crate::blocking`), and other group requests wait for the lock without holding a thread.
//! - A failed write leaves no trace in memory: the coordinator already applied the change, so the
//!   driver lets the partitions' queued writes settle and rebuilds the coordinator by replaying
//!   `__consumer_offsets` (what the log holds), as Kafka's coordinator reverts to its last
//!   committed state. Parked requests are answered COORDINATOR_NOT_AVAILABLE; clients retry.
//! - JoinGroup and SyncGroup may park: the handler gets a token and a oneshot receiver, and the
//!   coordinator answers the token in the `completed` effects of some later call or tick.
//! - Records before replies: every reply of an `Outcome` (its own and the `completed` ones) is
//!   released only after that outcome's records are written.
//! - Replay at start-up reads every partition from its log start; compaction (`compact.rs`)
//!   rewrites a partition as a snapshot once enough records accumulate, so replay stays short.
//! - In a cluster the coordinator follows leadership ([`Groups::follow`]): it loads the
//!   partitions of `__consumer_offsets` this broker comes to lead and unloads those it stops
//!   leading (their parked requests are answered with an error, and the clients find the new
//!   coordinator); until a partition is loaded its groups' requests get
//!   COORDINATOR_LOAD_IN_PROGRESS (`crate::coordinator_owner`). Its writes wait for the in-sync
//!   replicas, so what a client was told is committed survives the leader's loss.
//! - Transactional offset commits (TxnOffsetCommit) are written like any record, in a
//!   transactional batch of the producer, and stay pending in the coordinator until the
//!   transaction coordinator, having written the transaction's marker to the group's partition,
//!   calls [`transaction_completed`].
//! - [`ticker::run`] calls `tick` at the coordinator's next deadline (at most every
//!   [`ticker::TICK_MS_MAX`] ms apart) for session timeouts, rebalance timeouts and retention.

pub mod commit;
mod compact;
pub mod convert;
mod store;
pub mod ticker;
pub mod txn_verify;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use strata_groups::{
    Completed, Coordinator, CoordinatorConfig, Effects, JoinGroupReply, JoinGroupRequest, MemberIdSource, Outcome,
    RequestToken, SyncGroupReply, SyncGroupRequest,
};
use strata_log::LogManager;
use tokio::sync::{Mutex, MutexGuard, Notify, oneshot};

use crate::config::BrokerConfig;
use crate::state::{Broker, now_ms};
use crate::topics::{NewTopic, Topic, TopicError, Topics};

pub(crate) use compact::{Counters, move_log_start, topic_overrides as internal_topic_overrides};
pub use store::{
    CoordinatorAppend, KeyedRecord, Leaders, OFFSETS_TOPIC, OffsetsLog, Replayed, StoreError, partition_changes,
    wait_all,
};

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum GroupsStartError {
    #[error("cannot create {OFFSETS_TOPIC}: {0}")]
    Topic(#[from] TopicError),
    #[error("cannot replay {OFFSETS_TOPIC}: {0}")]
    Replay(#[from] StoreError),
}

/// Member ids as Kafka makes them: `<client id or instance id>-<random UUID>`, unique across
/// restarts (a seeded sequence would hand out the ids of restored members again).
struct UuidMemberIds;

impl MemberIdSource for UuidMemberIds {
    fn next_member_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }
}

/// How much longer than the coordinator's own deadline a parked request waits before giving up.
const PARKED_MARGIN_MS: i64 = 30_000;

/// Everything behind the lock.
struct Inner {
    coordinator: Coordinator,
    next_token: RequestToken,
    /// Parked JoinGroup/SyncGroup requests, by token, with their group's offsets partition.
    waiters: HashMap<RequestToken, (i32, oneshot::Sender<Completed>)>,
    compaction: compact::Counters,
    /// Per offsets partition, the end of the last append queued: a rebuild waits for it.
    queued_end: Vec<i64>,
    /// How many times the coordinator was rebuilt after a failed write.
    rebuilds: u64,
    /// The partitions written to and loaded (`None`: nothing yet, a cluster member before
    /// `__consumer_offsets` exists or before it follows leadership the first time).
    log: Option<OffsetsLog>,
    /// The partitions loaded, with the leader epoch they were loaded in.
    loaded: BTreeMap<i32, i32>,
}

/// The broker's group coordinator.
pub struct Groups {
    inner: Mutex<Inner>,
    /// The partitions loaded, readable without the coordinator's lock (for
    /// `crate::coordinator_owner`); changed under it.
    loaded: std::sync::RwLock<BTreeSet<i32>>,
    config: CoordinatorConfig,
    /// Woken when a call may have moved the next deadline earlier.
    pub(crate) wake: Notify,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The coordinator settings from the broker's (Kafka-named) settings.
pub fn coordinator_config(config: &BrokerConfig, offsets_partitions: i32) -> CoordinatorConfig {
    CoordinatorConfig {
        session_timeout_ms_min: config.settings.group_min_session_timeout_ms,
        session_timeout_ms_max: config.settings.group_max_session_timeout_ms,
        initial_rebalance_delay_ms: config.settings.group_initial_rebalance_delay_ms,
        offsets_retention_ms: config.settings.offsets_retention_ms(),
        offsets_topic_partitions: offsets_partitions,
        ..CoordinatorConfig::default()
    }
}

/// `__consumer_offsets` as it is created, with `replication_factor` replicas of each partition.
fn offsets_topic(config: &BrokerConfig, replication_factor: i32) -> NewTopic<'static> {
    NewTopic {
        name: OFFSETS_TOPIC,
        partitions: config.settings.offsets_topic_num_partitions,
        replication_factor,
        overrides: compact::topic_overrides(),
        internal: true,
    }
}

impl Groups {
    /// On a single node: creates `__consumer_offsets` if it is missing and replays it. An
    /// existing topic keeps its partition count (as in Kafka, `offsets.topic.num.partitions`
    /// only applies at creation). In a cluster the coordinator starts empty: the topic is created
    /// once enough brokers are live ([`Groups::create_topic`]) and its partitions are loaded as
    /// this broker comes to lead them ([`Groups::follow`]).
    pub fn open(log: &LogManager, topics: &Topics, config: &BrokerConfig) -> Result<Groups, GroupsStartError> {
        if topics.cluster_image().is_some() {
            let partitions =
                topics.get(OFFSETS_TOPIC).map_or(config.settings.offsets_topic_num_partitions, |t| t.partition_count());
            return Ok(Groups::empty(coordinator_config(config, partitions)));
        }
        let topic = topics.get_or_create(log, config, offsets_topic(config, 1), now_ms())?;
        let mut groups = Groups::empty(coordinator_config(config, topic.partition_count()));
        let inner = groups.inner.get_mut();
        let loaded = reload(inner, OffsetsLog::new(topic), &groups.config)?;
        *groups.loaded.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
        Ok(groups)
    }

    /// A coordinator with nothing loaded.
    fn empty(config: CoordinatorConfig) -> Groups {
        let inner = Inner {
            coordinator: Coordinator::new(config.clone(), Box::new(UuidMemberIds)),
            next_token: 1,
            waiters: HashMap::new(),
            compaction: compact::Counters::new(Vec::new()),
            queued_end: Vec::new(),
            rebuilds: 0,
            log: None,
            loaded: BTreeMap::new(),
        };
        Groups { inner: Mutex::new(inner), loaded: Default::default(), config, wake: Notify::new() }
    }

    /// Creates `__consumer_offsets` in a cluster, with `offsets.topic.replication.factor`
    /// replicas of each partition: refused (INVALID_REPLICATION_FACTOR) while fewer brokers are
    /// live, as Kafka's controller refuses it; the caller tries again as brokers join.
    pub fn create_topic(log: &LogManager, topics: &Topics, config: &BrokerConfig) -> Result<(), TopicError> {
        let factor = config.settings.offsets_topic_replication_factor;
        topics.get_or_create(log, config, offsets_topic(config, factor), now_ms()).map(|_| ())
    }

    /// Loads and unloads partitions so that this cluster member coordinates the groups of the
    /// partitions of `topic` it leads (`leaders`, each in its current leader epoch) and no others.
    pub async fn follow(&self, topic: Arc<Topic>, leaders: Leaders) {
        let mut inner = self.lock().await;
        let offsets = OffsetsLog::led(topic, leaders);
        match crate::blocking::run(|| reload(&mut inner, offsets, &self.config)) {
            Ok(loaded) => *self.loaded.write().unwrap_or_else(std::sync::PoisonError::into_inner) = loaded,
            Err(error) => tracing::error!(%error, "cannot load the {OFFSETS_TOPIC} partitions this broker leads"),
        }
        drop(inner);
        self.wake.notify_one();
    }

    /// Whether the groups of offsets partition `partition` are loaded here.
    pub fn is_loaded(&self, partition: i32) -> bool {
        self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&partition)
    }

    async fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().await
    }

    /// Runs one coordinator call, carries out its effects, and returns its reply once its
    /// records are written (`Err` if they could not be: the reply must then not be trusted).
    pub async fn call<R>(&self, f: impl FnOnce(&mut Coordinator, i64) -> Outcome<R>) -> (R, Result<(), StoreError>) {
        let (reply, pending, completions, rebuilds) = {
            let mut inner = self.lock().await;
            let outcome = f(&mut inner.coordinator, now_ms());
            let (pending, completions) = self.carry_out_locked(&mut inner, outcome.effects);
            (outcome.reply, pending, completions, inner.rebuilds)
        };
        self.wake.notify_one();
        let persisted = self.finish(pending, completions, rebuilds).await;
        (reply, persisted)
    }

    /// Reads the coordinator (no effects).
    pub async fn read<R>(&self, f: impl FnOnce(&Coordinator) -> R) -> R {
        f(&self.lock().await.coordinator)
    }

    /// JoinGroup: answered now, or parked until the rebalance completes.
    pub async fn join_group(&self, request: JoinGroupRequest) -> JoinGroupReply {
        let member_id = request.member_id.clone();
        // The coordinator answers a parked join within the rebalance timeout (a new member's
        // within its join timeout); past that plus a margin, stop waiting.
        let new_member_ms = self.config.new_member_join_timeout_ms;
        let wait_ms_max = i64::from(request.rebalance_timeout_ms).max(new_member_ms) + PARKED_MARGIN_MS;
        let partition = self.partition_for(&request.group_id);
        match self.parked(partition, wait_ms_max, |c, token, now| c.join_group(token, request, now)).await {
            Some(Completed::Join { reply, .. }) => reply,
            Some(Completed::Sync { .. }) | None => join_error(&member_id),
        }
    }

    /// SyncGroup: answered now, or parked until the leader's assignment arrives.
    pub async fn sync_group(&self, request: SyncGroupRequest) -> SyncGroupReply {
        // A parked sync is answered by the group's sync deadline, its rebalance timeout, which
        // members set no higher than the largest session timeout allowed.
        let wait_ms_max = i64::from(self.config.session_timeout_ms_max) + PARKED_MARGIN_MS;
        let partition = self.partition_for(&request.group_id);
        match self.parked(partition, wait_ms_max, |c, token, now| c.sync_group(token, request, now)).await {
            Some(Completed::Sync { reply, .. }) => reply,
            Some(Completed::Join { .. }) | None => sync_error(),
        }
    }

    /// A call that may park: its reply comes back as a [`Completed`] either way; `None` when
    /// there is no trustworthy reply (records not written, the coordinator shut down, or no
    /// answer within `wait_ms_max`: a safety net, so a request the state machine never answers
    /// cannot hold its task and its waiter entry forever).
    async fn parked<R>(
        &self,
        partition: i32,
        wait_ms_max: i64,
        f: impl FnOnce(&mut Coordinator, RequestToken, i64) -> Outcome<Option<R>>,
    ) -> Option<Completed>
    where
        R: Into<ReplyOf>,
    {
        let (tx, rx) = oneshot::channel();
        let (own, token, pending, completions, rebuilds) = {
            let mut inner = self.lock().await;
            let token = inner.next_token;
            inner.next_token += 1;
            inner.waiters.insert(token, (partition, tx));
            let outcome = f(&mut inner.coordinator, token, now_ms());
            if outcome.reply.is_some() {
                inner.waiters.remove(&token);
            }
            let (pending, completions) = self.carry_out_locked(&mut inner, outcome.effects);
            (outcome.reply, token, pending, completions, inner.rebuilds)
        };
        self.wake.notify_one();
        let persisted = self.finish(pending, completions, rebuilds).await;
        match own {
            Some(reply) => persisted.is_ok().then(|| reply.into().completed(token)),
            None => {
                let wait = std::time::Duration::from_millis(u64::try_from(wait_ms_max).unwrap_or(0));
                match tokio::time::timeout(wait, rx).await {
                    Ok(answer) => answer.ok(),
                    Err(_) => {
                        self.lock().await.waiters.remove(&token);
                        tracing::warn!(token, wait_ms_max, "parked group request not answered in time; giving up");
                        None
                    }
                }
            }
        }
    }

    /// Advances time (the ticker calls this).
    pub async fn tick(&self) {
        let (pending, completions, rebuilds) = {
            let mut inner = self.lock().await;
            let effects = inner.coordinator.tick(now_ms());
            let (pending, completions) = self.carry_out_locked(&mut inner, effects);
            (pending, completions, inner.rebuilds)
        };
        if let Err(error) = self.finish(pending, completions, rebuilds).await {
            tracing::warn!(%error, "group coordinator tick: records not written");
        }
    }

    /// The transaction of `producer_id` ended and its marker is written to `__consumer_offsets`
    /// partition `offsets_partition`: the producer's pending offsets in every group of that
    /// partition become committed (`commit`) or are dropped. Nothing is written (the marker is
    /// the record), so this takes effect at once. Returns how many groups it changed.
    pub async fn transaction_completed(&self, offsets_partition: i32, producer_id: i64, commit: bool) -> usize {
        let changed = self.lock().await.coordinator.transaction_completed(offsets_partition, producer_id, commit);
        tracing::debug!(offsets_partition, producer_id, commit, groups = changed, "transaction completed");
        changed
    }

    /// When the ticker should next call [`Groups::tick`].
    pub async fn next_deadline_ms(&self) -> Option<i64> {
        self.lock().await.coordinator.next_deadline_ms()
    }

    /// Stops answering parked requests (shutdown): their handlers answer with an error.
    pub async fn shutdown(&self) {
        self.lock().await.waiters.clear();
    }

    /// The `__consumer_offsets` partition that holds `group_id`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        strata_groups::offsets_partition_for(group_id, self.config.offsets_topic_partitions)
    }

    /// How many times the coordinator was rebuilt from the log after a failed write.
    pub async fn rebuilds(&self) -> u64 {
        self.lock().await.rebuilds
    }

    /// Queues `effects.records` and takes the senders of the completed requests; the caller
    /// waits for the appends, then delivers.
    fn carry_out_locked(
        &self,
        inner: &mut Inner,
        effects: Effects,
    ) -> (Result<Vec<CoordinatorAppend>, StoreError>, Vec<Delivery>) {
        let Effects { completed, records } = effects;
        let pending = if records.is_empty() {
            Ok(Vec::new())
        } else if let Some(log) = inner.log.clone() {
            let now = now_ms();
            log.append(&records, now).map(|pending| {
                inner.compaction.count(records.iter().map(|r| r.partition));
                let appended: Vec<(i32, i64)> =
                    pending.iter().map(|(p, a)| (*p, a.append.info.last_offset + 1)).collect();
                for &(p, end) in &appended {
                    if let Some(queued) = usize::try_from(p).ok().and_then(|i| inner.queued_end.get_mut(i)) {
                        *queued = end;
                    }
                }
                let candidates: Vec<i32> = appended.iter().map(|(p, _)| *p).collect();
                compact::compact_due(inner, &log, &appended, &candidates, now);
                pending.into_iter().map(|(_, append)| append).collect()
            })
        } else {
            Err(StoreError::NotLeader(records.first().map_or(-1, |r| r.partition)))
        };
        let completions = completed
            .into_iter()
            .filter_map(|c| match inner.waiters.remove(&c.token()) {
                Some((_, sender)) => Some(Delivery { sender, completed: c }),
                None => {
                    tracing::debug!(token = c.token(), "completion for a request no longer waiting");
                    None
                }
            })
            .collect();
        (pending, completions)
    }

    /// Waits for the appends, then releases the completions (as errors if the records are
    /// lost). After a failed write the coordinator is rebuilt from the log (unless a rebuild
    /// already happened since the call, `rebuilds` being the count it saw).
    async fn finish(
        &self,
        pending: Result<Vec<CoordinatorAppend>, StoreError>,
        completions: Vec<Delivery>,
        rebuilds: u64,
    ) -> Result<(), StoreError> {
        let persisted = deliver(pending, completions).await;
        if persisted.is_err() {
            self.rebuild(rebuilds).await;
        }
        persisted
    }

    /// Replaces the coordinator with one replayed from the log, once every append queued so far
    /// has been written or has failed, so the new state is exactly what the log holds.
    async fn rebuild(&self, rebuilds_seen: u64) {
        let mut inner = self.lock().await;
        if inner.rebuilds != rebuilds_seen {
            return;
        }
        let Some(log) = inner.log.clone() else { return };
        log.settle(&inner.queued_end).await;
        let which: Vec<i32> = inner.loaded.keys().copied().collect();
        let replayed = crate::blocking::run(|| replay(&log, &which, &self.config));
        match replayed {
            Ok((coordinator, counts)) => {
                inner.coordinator = coordinator;
                inner.compaction = compact::Counters::new(Vec::new());
                for (partition, count) in counts {
                    inner.compaction.replayed(partition, count);
                }
                // Their state is gone with the old coordinator: their handlers answer
                // COORDINATOR_NOT_AVAILABLE and the clients join again.
                inner.waiters.clear();
                inner.rebuilds += 1;
                tracing::warn!(
                    rebuilds = inner.rebuilds,
                    "group coordinator rebuilt from {OFFSETS_TOPIC} after a failed write"
                );
            }
            Err(error) => {
                tracing::error!(%error, "cannot rebuild the group coordinator from {OFFSETS_TOPIC}; keeping its state");
            }
        }
    }
}

/// For the transaction coordinator, once it has written a transaction's commit or abort marker
/// to `__consumer_offsets` partition `offsets_partition` (and the write is done): applies it to
/// every group on that partition (see [`Groups::transaction_completed`]).
pub async fn transaction_completed(state: &Broker, offsets_partition: i32, producer_id: i64, commit: bool) {
    state.groups.transaction_completed(offsets_partition, producer_id, commit).await;
}

/// Makes the partitions loaded those `offsets` writes to: unloads the others (their groups'
/// state dropped, their parked requests answered with an error when their senders drop) and
/// replays the new ones. Returns the partitions now loaded.
fn reload(inner: &mut Inner, offsets: OffsetsLog, config: &CoordinatorConfig) -> Result<BTreeSet<i32>, StoreError> {
    let wanted = offsets.writable();
    let (stale, fresh) = store::partition_changes(&inner.loaded, &wanted);
    let mut unloaded_groups = 0;
    for &partition in &stale {
        unloaded_groups += inner.coordinator.unload_partition(partition);
        inner.loaded.remove(&partition);
        inner.waiters.retain(|_, (waiting_on, _)| *waiting_on != partition);
    }
    if !stale.is_empty() {
        tracing::info!(partitions = ?stale, groups = unloaded_groups, "no longer coordinating the groups of these {OFFSETS_TOPIC} partitions");
    }
    inner.queued_end.resize(offsets.partition_count(), 0);
    inner.log = Some(offsets.clone());
    if !fresh.is_empty() {
        // Anything a request left in a partition not loaded goes; the log holds the truth.
        for &partition in &fresh {
            inner.coordinator.unload_partition(partition);
        }
        let (loaded, counts) = replay(&offsets, &fresh, config)?;
        inner.coordinator.absorb(loaded);
        for (partition, count) in counts {
            inner.compaction.replayed(partition, count);
            if let Some(&epoch) = wanted.get(&partition) {
                inner.loaded.insert(partition, epoch);
            }
        }
        compact::compact_due(inner, &offsets, &[], &fresh, now_ms());
        tracing::info!(partitions = ?fresh, "coordinating the groups of these {OFFSETS_TOPIC} partitions");
    }
    Ok(inner.loaded.keys().copied().collect())
}

/// A coordinator replayed from partitions `which` of `offsets`, and the records each held.
fn replay(
    offsets: &OffsetsLog,
    which: &[i32],
    config: &CoordinatorConfig,
) -> Result<(Coordinator, BTreeMap<i32, u64>), StoreError> {
    let mut replayer = Coordinator::replayer(config.clone(), Box::new(UuidMemberIds));
    let started = std::time::Instant::now();
    let counts = offsets.replay(which, &mut |item| match item {
        Replayed::Record { key, value, transaction: None } => replayer.apply(key, value),
        Replayed::Record { key, value, transaction: Some(producer) } => {
            replayer.apply_transactional(producer, key, value)
        }
        Replayed::Marker { partition, marker } => {
            replayer.apply_marker(partition, marker.producer_id, marker.commit);
            Ok(())
        }
    })?;
    let (records, skipped) = replayer.counts();
    let coordinator = replayer.finish(now_ms());
    tracing::info!(records, skipped, took_ms = started.elapsed().as_millis(), "replayed {OFFSETS_TOPIC}");
    Ok((coordinator, counts))
}

/// A parked request's answer, waiting for the records of the same effects.
struct Delivery {
    sender: oneshot::Sender<Completed>,
    completed: Completed,
}

/// Waits for the appends, then releases the completions (as errors if the records are lost).
async fn deliver(
    pending: Result<Vec<CoordinatorAppend>, StoreError>,
    completions: Vec<Delivery>,
) -> Result<(), StoreError> {
    let persisted = store::wait_all(pending).await;
    if let Err(error) = &persisted {
        tracing::error!(%error, "group coordinator records not written; answering with errors");
    }
    for Delivery { sender, completed } in completions {
        let completed = match (&persisted, completed) {
            (Ok(()), completed) => completed,
            (Err(_), Completed::Join { token, reply }) => {
                Completed::Join { token, reply: join_error(&reply.member_id) }
            }
            (Err(_), Completed::Sync { token, .. }) => Completed::Sync { token, reply: sync_error() },
        };
        // The handler may be gone (its connection closed): nothing to answer then.
        let _ = sender.send(completed);
    }
    persisted
}

/// The answer when the coordinator cannot answer (records lost, or shutting down).
fn join_error(member_id: &str) -> JoinGroupReply {
    JoinGroupReply::error(strata_groups::GroupError::CoordinatorNotAvailable, member_id)
}

fn sync_error() -> SyncGroupReply {
    SyncGroupReply::error(strata_groups::GroupError::CoordinatorNotAvailable)
}

/// A JoinGroup or SyncGroup reply, so [`Groups::parked`] serves both.
enum ReplyOf {
    Join(JoinGroupReply),
    Sync(SyncGroupReply),
}

impl ReplyOf {
    fn completed(self, token: RequestToken) -> Completed {
        match self {
            ReplyOf::Join(reply) => Completed::Join { token, reply },
            ReplyOf::Sync(reply) => Completed::Sync { token, reply },
        }
    }
}

impl From<JoinGroupReply> for ReplyOf {
    fn from(reply: JoinGroupReply) -> Self {
        ReplyOf::Join(reply)
    }
}

impl From<SyncGroupReply> for ReplyOf {
    fn from(reply: SyncGroupReply) -> Self {
        ReplyOf::Sync(reply)
    }
}
