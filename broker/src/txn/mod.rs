//! The transaction coordinator driver: the one [`strata_txn::Coordinator`] of this broker, the
//! `__transaction_state` topic it persists to, and the plumbing that carries out its effects, as
//! `crate::groups` does for the group coordinator.
//!
//! - The coordinator sits behind an async mutex. Records are queued to the log *under* that lock,
//!   so the log's order is the coordinator's order; the wait for the write happens after it.
//! - Records before replies: [`Transactions::call`] returns a reply only once its records are
//!   written. Replies before markers: it hands the markers back, and the handler starts writing
//!   them ([`markers::spawn`]) as it answers.
//! - A failed write leaves no trace: the driver lets the queued writes settle and rebuilds the
//!   coordinator by replaying `__transaction_state`, as Kafka's coordinator reverts to what its
//!   log holds; the request is answered COORDINATOR_NOT_AVAILABLE and the client retries.
//! - Loading: the coordinator is replayed by the ticker task once the broker serves
//!   ([`Transactions::load`]); until then every transaction request answers
//!   COORDINATOR_LOAD_IN_PROGRESS. After loading, the markers of transactions that were
//!   preparing when the broker stopped are written again.
//! - Compaction (`compact.rs`) snapshots a partition once enough records accumulate.
//! - In a cluster the coordinator follows leadership as the group coordinator does
//!   ([`Transactions::follow`]): it loads the `__transaction_state` partitions this broker comes
//!   to lead (writing the markers of their transactions left preparing) and unloads the others;
//!   its writes wait for the in-sync replicas.

mod compact;
pub mod ids;
pub mod markers;
pub mod partition_check;
pub mod ticker;

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_log::LogManager;
use strata_txn::{Coordinator, Outcome, TxnConfig, TxnRecord, WriteMarkers};
use tokio::sync::{Mutex, MutexGuard, Notify};

use crate::config::BrokerConfig;
use crate::groups::{CoordinatorAppend, Counters, Leaders, OffsetsLog, Replayed, StoreError, wait_all};
use crate::producer_ids::ProducerIds;
use crate::state::now_ms;
use crate::topics::{NewTopic, Topic, TopicError, Topics};

/// The internal topic's name, as Kafka's.
pub const TXN_STATE_TOPIC: &str = "__transaction_state";

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum TxnStartError {
    #[error("cannot create {TXN_STATE_TOPIC}: {0}")]
    Topic(#[from] TopicError),
}

/// Why a transaction request cannot be served now (see `crate::errors` for the codes).
#[derive(Debug, thiserror::Error)]
pub enum TxnUnavailable {
    #[error("the transaction coordinator is loading {TXN_STATE_TOPIC}")]
    Loading,
    #[error("transaction coordinator records not written: {0}")]
    Store(#[from] StoreError),
}

/// Everything behind the lock.
struct Inner {
    /// `None` until `__transaction_state` is replayed.
    coordinator: Option<Coordinator>,
    compaction: Counters,
    /// Per partition, the end of the last append queued: a rebuild waits for it.
    queued_end: Vec<i64>,
    /// How many times the coordinator was rebuilt after a failed write.
    rebuilds: u64,
    /// The partitions written to and loaded (`None` in a cluster until this broker follows the
    /// leadership of `__transaction_state`).
    log: Option<OffsetsLog>,
}

/// The broker's transaction coordinator.
pub struct Transactions {
    inner: Mutex<Inner>,
    /// The partitions loaded, with the leader epoch each was loaded in (the coordinator epoch of
    /// its markers), readable without the coordinator's lock; changed under it.
    loaded: std::sync::RwLock<BTreeMap<i32, i32>>,
    config: TxnConfig,
    ids: Arc<ProducerIds>,
    /// Woken when a call may have moved the next deadline earlier.
    pub(crate) wake: Notify,
}

impl std::fmt::Debug for Transactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transactions").field("config", &self.config).finish_non_exhaustive()
    }
}

/// `__transaction_state` as it is created, with `replication_factor` replicas of each partition.
fn txn_state_topic(config: &BrokerConfig, replication_factor: i32) -> NewTopic<'static> {
    NewTopic {
        name: TXN_STATE_TOPIC,
        partitions: config.settings.transaction_state_log_num_partitions,
        replication_factor,
        overrides: crate::groups::internal_topic_overrides(),
        internal: true,
    }
}

impl Transactions {
    /// On a single node: creates `__transaction_state` if it is missing; the coordinator is
    /// loaded later ([`Transactions::load`]). An existing topic keeps its partition count (as in
    /// Kafka, `transaction.state.log.num.partitions` only applies at creation). In a cluster the
    /// coordinator starts empty: the topic is created once enough brokers are live
    /// ([`Transactions::create_topic`]) and its partitions are loaded as this broker comes to
    /// lead them ([`Transactions::follow`]).
    pub fn open(
        log: &LogManager,
        topics: &Topics,
        config: &BrokerConfig,
        ids: Arc<ProducerIds>,
    ) -> Result<Transactions, TxnStartError> {
        let settings = &config.settings;
        let (partitions, offsets) = if topics.cluster_image().is_some() {
            let existing = topics.get(TXN_STATE_TOPIC).map(|t| t.partition_count());
            (existing.unwrap_or(settings.transaction_state_log_num_partitions), None)
        } else {
            let topic = topics.get_or_create(log, config, txn_state_topic(config, 1), now_ms())?;
            (topic.partition_count(), Some(OffsetsLog::new(topic)))
        };
        let txn_config = TxnConfig {
            transaction_max_timeout_ms: settings.transaction_max_timeout_ms,
            transactional_id_expiration_ms: i64::from(settings.transactional_id_expiration_ms),
            state_log_partitions: partitions,
        };
        let cluster = offsets.is_none();
        let inner = Inner {
            // A cluster member serves at once, with nothing loaded until it leads a partition.
            coordinator: cluster
                .then(|| Coordinator::new(txn_config.clone(), Box::new(ids::BrokerProducerIds::new(Arc::clone(&ids))))),
            compaction: Counters::new(Vec::new()),
            queued_end: Vec::new(),
            rebuilds: 0,
            log: offsets,
        };
        Ok(Transactions {
            inner: Mutex::new(inner),
            loaded: Default::default(),
            config: txn_config,
            ids,
            wake: Notify::new(),
        })
    }

    /// Creates `__transaction_state` in a cluster, with `transaction.state.log.replication.factor`
    /// replicas of each partition: refused while fewer brokers are live, as Kafka's controller
    /// refuses it; the caller tries again as brokers join.
    pub fn create_topic(log: &LogManager, topics: &Topics, config: &BrokerConfig) -> Result<(), TopicError> {
        let factor = config.settings.transaction_state_log_replication_factor;
        topics.get_or_create(log, config, txn_state_topic(config, factor), now_ms()).map(|_| ())
    }

    async fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().await
    }

    /// Replays `__transaction_state` and starts serving (a single node; a cluster member loads
    /// as it follows leadership and is already serving). Returns the markers of transactions
    /// that were preparing when the broker stopped: the caller writes them.
    pub async fn load(&self) -> Result<Vec<WriteMarkers>, StoreError> {
        let mut inner = self.lock().await;
        if inner.coordinator.is_some() {
            return Ok(Vec::new());
        }
        let Some(log) = inner.log.clone() else { return Ok(Vec::new()) };
        let writable = log.writable();
        let which: Vec<i32> = writable.keys().copied().collect();
        let (coordinator, counts) = crate::blocking::run(|| self.replay(&log, &which))?;
        let pending = coordinator.pending_markers();
        inner.coordinator = Some(coordinator);
        inner.compaction = counters(counts);
        inner.queued_end = vec![0; log.partition_count()];
        *self.loaded.write().unwrap_or_else(std::sync::PoisonError::into_inner) = writable;
        Ok(pending)
    }

    /// Loads and unloads partitions so that this cluster member coordinates the transactional
    /// ids of the partitions of `topic` it leads (`leaders`) and no others. Returns the markers
    /// of the loaded transactions that were preparing: the caller writes them.
    pub async fn follow(&self, topic: Arc<Topic>, leaders: Leaders) -> Vec<WriteMarkers> {
        let mut inner = self.lock().await;
        let offsets = OffsetsLog::led(topic, leaders);
        let wanted = offsets.writable();
        let loaded = self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let (stale, fresh) = crate::groups::partition_changes(&loaded, &wanted);
        inner.queued_end.resize(offsets.partition_count(), 0);
        inner.log = Some(offsets.clone());
        let Some(coordinator) = inner.coordinator.as_mut() else { return Vec::new() };
        let mut unloaded = 0;
        for &partition in stale.iter().chain(&fresh) {
            unloaded += coordinator.unload_partition(partition);
        }
        if !stale.is_empty() {
            tracing::info!(partitions = ?stale, transactional_ids = unloaded, "no longer coordinating these {TXN_STATE_TOPIC} partitions");
        }
        let mut now_loaded: BTreeMap<i32, i32> = loaded.into_iter().filter(|(p, _)| !stale.contains(p)).collect();
        let mut pending = Vec::new();
        if !fresh.is_empty() {
            match crate::blocking::run(|| self.replay(&offsets, &fresh)) {
                Ok((replayed, counts)) => {
                    pending = coordinator.absorb(replayed);
                    for (partition, count) in counts {
                        inner.compaction.replayed(partition, count);
                        if let Some(&epoch) = wanted.get(&partition) {
                            now_loaded.insert(partition, epoch);
                        }
                    }
                    tracing::info!(partitions = ?fresh, "coordinating the transactional ids of these {TXN_STATE_TOPIC} partitions");
                }
                Err(error) => tracing::error!(%error, "cannot load the {TXN_STATE_TOPIC} partitions this broker leads"),
            }
        }
        *self.loaded.write().unwrap_or_else(std::sync::PoisonError::into_inner) = now_loaded;
        drop(inner);
        self.wake.notify_one();
        pending
    }

    /// Whether the transactional ids of `__transaction_state` partition `partition` are loaded.
    pub fn is_loaded(&self, partition: i32) -> bool {
        self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(&partition)
    }

    /// Runs one coordinator call and returns its reply once its records are written, with the
    /// markers to write next.
    pub async fn call<R>(
        &self,
        f: impl FnOnce(&mut Coordinator, i64) -> Outcome<R>,
    ) -> Result<(R, Vec<WriteMarkers>), TxnUnavailable> {
        let (reply, markers, pending, rebuilds) = {
            let mut inner = self.lock().await;
            let coordinator = inner.coordinator.as_mut().ok_or(TxnUnavailable::Loading)?;
            let Outcome { reply, effects } = f(coordinator, now_ms());
            let pending = self.queue_locked(&mut inner, &effects.records);
            (reply, effects.markers, pending, inner.rebuilds)
        };
        self.wake.notify_one();
        self.finish(pending, rebuilds).await?;
        Ok((reply, markers))
    }

    /// Reads the coordinator (no effects).
    pub async fn read<R>(&self, f: impl FnOnce(&Coordinator) -> R) -> Result<R, TxnUnavailable> {
        let inner = self.lock().await;
        inner.coordinator.as_ref().map(f).ok_or(TxnUnavailable::Loading)
    }

    /// Advances time (the ticker calls this): aborts timed-out transactions and expires idle
    /// transactional ids. Returns the markers of the aborted transactions.
    pub async fn tick(&self) -> Vec<WriteMarkers> {
        let (markers, pending, rebuilds) = {
            let mut inner = self.lock().await;
            let Some(coordinator) = inner.coordinator.as_mut() else { return Vec::new() };
            let effects = coordinator.tick(now_ms());
            let pending = self.queue_locked(&mut inner, &effects.records);
            (effects.markers, pending, inner.rebuilds)
        };
        match self.finish(pending, rebuilds).await {
            Ok(()) => markers,
            Err(error) => {
                tracing::warn!(%error, "transaction coordinator tick: records not written");
                Vec::new()
            }
        }
    }

    /// Every marker of `markers` is written: the transaction completes. Returns markers to write
    /// again if the completion could not be persisted (the coordinator was rebuilt and the
    /// transaction is preparing again).
    pub async fn markers_written(&self, markers: &WriteMarkers) -> Vec<WriteMarkers> {
        let (pending, rebuilds) = {
            let mut inner = self.lock().await;
            let Some(coordinator) = inner.coordinator.as_mut() else { return Vec::new() };
            let id = &markers.transactional_id;
            match coordinator.markers_written(id, markers.producer_id, markers.producer_epoch, now_ms()) {
                Ok(effects) => (self.queue_locked(&mut inner, &effects.records), inner.rebuilds),
                Err(error) => {
                    // Written twice, or the log was rebuilt since: the transaction moved on.
                    tracing::debug!(transactional_id = %id, %error, "markers no longer awaited");
                    return Vec::new();
                }
            }
        };
        match self.finish(pending, rebuilds).await {
            Ok(()) => Vec::new(),
            Err(error) => {
                tracing::warn!(%error, "transaction completion not written; writing its markers again");
                self.read(Coordinator::pending_markers).await.unwrap_or_default()
            }
        }
    }

    /// When the ticker should next call [`Transactions::tick`].
    pub async fn next_deadline_ms(&self) -> Option<i64> {
        self.lock().await.coordinator.as_ref().and_then(Coordinator::next_deadline_ms)
    }

    /// The `__transaction_state` partition of `transactional_id` (Kafka's rule).
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        strata_groups::offsets_partition_for(transactional_id, self.config.state_log_partitions)
    }

    /// The coordinator epoch markers carry: the leader epoch the transactional id's
    /// `__transaction_state` partition was loaded in, as in Kafka; `None` when this broker does
    /// not coordinate it (the partition is not loaded here).
    pub fn loaded_epoch(&self, transactional_id: &str) -> Option<i32> {
        let partition = self.partition_for(transactional_id);
        self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&partition).copied()
    }

    /// How many times the coordinator was rebuilt from the log after a failed write.
    pub async fn rebuilds(&self) -> u64 {
        self.lock().await.rebuilds
    }

    /// Queues `records` under the lock, counts them for compaction, and snapshots partitions
    /// that are due.
    fn queue_locked(&self, inner: &mut Inner, records: &[TxnRecord]) -> Result<Vec<CoordinatorAppend>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let log = inner.log.clone().ok_or(StoreError::NotLeader(records.first().map_or(-1, |r| r.partition)))?;
        let pending = log.append(records, now)?;
        inner.compaction.count(records.iter().map(|r| r.partition));
        let appended: Vec<(i32, i64)> = pending.iter().map(|(p, a)| (*p, a.append.info.last_offset + 1)).collect();
        for &(p, end) in &appended {
            if let Some(queued) = usize::try_from(p).ok().and_then(|i| inner.queued_end.get_mut(i)) {
                *queued = end;
            }
        }
        compact::compact_due(inner, &log, &appended, now);
        Ok(pending.into_iter().map(|(_, append)| append).collect())
    }

    /// Waits for the appends. After a failure, once every append queued so far has been
    /// written or has failed, replaces the coordinator with one replayed from the log (unless a
    /// rebuild already happened since the call, `rebuilds` being the count it saw).
    async fn finish(
        &self,
        pending: Result<Vec<CoordinatorAppend>, StoreError>,
        rebuilds: u64,
    ) -> Result<(), StoreError> {
        let Err(error) = wait_all(pending).await else { return Ok(()) };
        tracing::error!(%error, "transaction coordinator records not written; rebuilding from {TXN_STATE_TOPIC}");
        let mut inner = self.lock().await;
        if inner.rebuilds == rebuilds {
            let log = inner.log.clone();
            let which: Vec<i32> =
                self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).keys().copied().collect();
            let replayed = match &log {
                Some(log) => {
                    log.settle(&inner.queued_end).await;
                    crate::blocking::run(|| self.replay(log, &which))
                }
                None => Ok((self.empty(), BTreeMap::new())),
            };
            match replayed {
                Ok((coordinator, counts)) => {
                    (inner.coordinator, inner.compaction) = (Some(coordinator), counters(counts));
                    inner.rebuilds += 1;
                    tracing::warn!(rebuilds = inner.rebuilds, "transaction coordinator rebuilt");
                }
                Err(replay) => tracing::error!(%replay, "cannot rebuild the transaction coordinator; keeping it"),
            }
        }
        Err(error)
    }

    /// A coordinator with nothing loaded.
    fn empty(&self) -> Coordinator {
        Coordinator::new(self.config.clone(), Box::new(ids::BrokerProducerIds::new(Arc::clone(&self.ids))))
    }

    /// A coordinator replayed from partitions `which` of `log`, and the records each held.
    fn replay(&self, log: &OffsetsLog, which: &[i32]) -> Result<(Coordinator, BTreeMap<i32, u64>), StoreError> {
        let ids = Box::new(ids::BrokerProducerIds::new(Arc::clone(&self.ids)));
        let mut replayer = Coordinator::replayer(self.config.clone(), ids);
        let started = std::time::Instant::now();
        // `__transaction_state` holds plain records only (no transactions, no markers).
        let counts = log.replay(which, &mut |item| match item {
            Replayed::Record { key, value, .. } => replayer.apply(key, value),
            Replayed::Marker { .. } => Ok(()),
        })?;
        let (records, skipped) = replayer.counts();
        let coordinator = replayer.finish();
        tracing::info!(
            records,
            skipped,
            transactional_ids = coordinator.len(),
            took_ms = started.elapsed().as_millis(),
            "replayed {TXN_STATE_TOPIC}"
        );
        Ok((coordinator, counts))
    }
}

/// Compaction counters starting from what replay read from each partition.
fn counters(replayed: BTreeMap<i32, u64>) -> Counters {
    let mut counters = Counters::new(Vec::new());
    for (partition, records) in replayed {
        counters.replayed(partition, records);
    }
    counters
}
