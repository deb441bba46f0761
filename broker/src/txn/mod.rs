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
use crate::groups::{CoordinatorAppend, Counters, OffsetsLog, Replayed, StoreError, wait_all};
use crate::producer_ids::ProducerIds;
use crate::state::now_ms;
use crate::topics::{NewTopic, TopicError, Topics};

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
}

/// The broker's transaction coordinator.
pub struct Transactions {
    inner: Mutex<Inner>,
    log: OffsetsLog,
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

impl Transactions {
    /// Creates `__transaction_state` if it is missing; the coordinator is loaded later
    /// ([`Transactions::load`]). An existing topic keeps its partition count (as in Kafka,
    /// `transaction.state.log.num.partitions` only applies at creation).
    pub fn open(
        log: &LogManager,
        topics: &Topics,
        config: &BrokerConfig,
        ids: Arc<ProducerIds>,
    ) -> Result<Transactions, TxnStartError> {
        let new = NewTopic {
            name: TXN_STATE_TOPIC,
            partitions: config.settings.transaction_state_log_num_partitions,
            replication_factor: 1,
            overrides: crate::groups::internal_topic_overrides(),
            internal: true,
        };
        let topic = topics.get_or_create(log, config, new, now_ms())?;
        let settings = &config.settings;
        let txn_config = TxnConfig {
            transaction_max_timeout_ms: settings.transaction_max_timeout_ms,
            transactional_id_expiration_ms: i64::from(settings.transactional_id_expiration_ms),
            state_log_partitions: topic.partition_count(),
        };
        let log = OffsetsLog::new(topic);
        let inner = Inner {
            coordinator: None,
            compaction: Counters::new(vec![0; log.partition_count()]),
            queued_end: vec![0; log.partition_count()],
            rebuilds: 0,
        };
        Ok(Transactions { inner: Mutex::new(inner), log, config: txn_config, ids, wake: Notify::new() })
    }

    async fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().await
    }

    /// Replays `__transaction_state` and starts serving. Returns the markers of transactions
    /// that were preparing when the broker stopped: the caller writes them.
    pub async fn load(&self) -> Result<Vec<WriteMarkers>, StoreError> {
        let mut inner = self.lock().await;
        let (coordinator, counts) = crate::blocking::run(|| self.replay())?;
        let pending = coordinator.pending_markers();
        inner.coordinator = Some(coordinator);
        inner.compaction = counters(counts);
        Ok(pending)
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

    /// The coordinator epoch markers carry: the leader epoch of the transactional id's
    /// `__transaction_state` partition, as in Kafka.
    pub fn coordinator_epoch(&self, transactional_id: &str) -> i32 {
        self.log.leader_epoch(self.partition_for(transactional_id)).unwrap_or(0)
    }

    /// The `__transaction_state` topic.
    pub fn log(&self) -> &OffsetsLog {
        &self.log
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
        let pending = self.log.append(records, now)?;
        inner.compaction.count(records.iter().map(|r| r.partition));
        let appended: Vec<(i32, i64)> = pending.iter().map(|(p, a)| (*p, a.append.info.last_offset + 1)).collect();
        for &(p, end) in &appended {
            if let Some(queued) = usize::try_from(p).ok().and_then(|i| inner.queued_end.get_mut(i)) {
                *queued = end;
            }
        }
        compact::compact_due(inner, &self.log, &appended, now);
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
            self.log.settle(&inner.queued_end).await;
            match crate::blocking::run(|| self.replay()) {
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

    /// A coordinator replayed from the log, and the records each partition held.
    fn replay(&self) -> Result<(Coordinator, BTreeMap<i32, u64>), StoreError> {
        let ids = Box::new(ids::BrokerProducerIds::new(Arc::clone(&self.ids)));
        let mut replayer = Coordinator::replayer(self.config.clone(), ids);
        let started = std::time::Instant::now();
        // `__transaction_state` holds plain records only (no transactions, no markers).
        let which: Vec<i32> = self.log.writable().into_keys().collect();
        let counts = self.log.replay(&which, &mut |item| match item {
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
