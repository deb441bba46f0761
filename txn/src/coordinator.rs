//! The coordinator: every transactional id this broker coordinates, and the plumbing the
//! operations (`init.rs`, `add.rs`, `end.rs`, `admin.rs`, `tick.rs`) share.
//!
//! Concurrency: a `Coordinator` is a plain value with `&mut self` methods. The broker owns it
//! behind one lock (or one task); nothing here blocks, reads a clock or does I/O.

use std::collections::BTreeMap;

use crate::config::TxnConfig;
use crate::ids::ProducerIdSource;
use crate::metadata::TxnMetadata;
use crate::records::{TxnRecord, encode_key};
use crate::replies::WriteMarkers;
use crate::state::TxnState;

/// The transaction coordinator of one broker.
pub struct Coordinator {
    pub(crate) config: TxnConfig,
    pub(crate) ids: Box<dyn ProducerIdSource>,
    pub(crate) txns: BTreeMap<String, TxnMetadata>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("config", &self.config).field("txns", &self.txns.len()).finish()
    }
}

impl Coordinator {
    /// An empty coordinator (nothing to replay). To load `__transaction_state`, use
    /// [`Coordinator::replayer`].
    pub fn new(config: TxnConfig, ids: Box<dyn ProducerIdSource>) -> Self {
        assert!(config.state_log_partitions > 0, "transaction.state.log.num.partitions must be positive");
        assert!(config.transaction_max_timeout_ms > 0, "transaction.max.timeout.ms must be positive");
        Coordinator { config, ids, txns: BTreeMap::new() }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// The `__transaction_state` partition of `transactional_id`: Kafka's
    /// `abs(hashCode) % partitions`, the same rule as for groups.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        strata_groups::offsets_partition_for(transactional_id, self.config.state_log_partitions)
    }

    /// How many transactional ids the coordinator holds.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// Stops coordinating the transactional ids of `__transaction_state` partition `partition`
    /// (its leadership moved to another broker): drops their state. Returns how many.
    pub fn unload_partition(&mut self, partition: i32) -> usize {
        let partitions = self.config.state_log_partitions;
        let before = self.txns.len();
        self.txns.retain(|id, _| strata_groups::offsets_partition_for(id, partitions) != partition);
        before - self.txns.len()
    }

    /// Takes over the transactional ids of `loaded`, a coordinator replayed from partitions this
    /// one does not hold; returns the markers of those of them that were preparing, which the
    /// broker writes (as Kafka's coordinator completes them on loading a partition).
    pub fn absorb(&mut self, loaded: Coordinator) -> Vec<WriteMarkers> {
        let pending = loaded.pending_markers();
        for (id, meta) in loaded.txns {
            debug_assert!(!self.txns.contains_key(&id), "transactional id {id} is loaded twice");
            self.txns.insert(id, meta);
        }
        pending
    }

    /// The markers still to be written: those of every transaction in PrepareCommit or
    /// PrepareAbort. After a replay the broker sends these (Kafka does the same on load). One
    /// with no partitions (an empty abort cut short by a crash) has nothing to write: the broker
    /// reports it written at once.
    pub fn pending_markers(&self) -> Vec<WriteMarkers> {
        self.txns.values().filter(|t| t.state.is_preparing()).map(markers_for).collect()
    }

    /// Stores `meta` and returns the record persisting it.
    pub(crate) fn persist(&mut self, meta: TxnMetadata) -> TxnRecord {
        meta.check_invariants();
        let record = self.record_of(&meta);
        self.txns.insert(meta.id.clone(), meta);
        record
    }

    /// The record holding `meta`'s durable state.
    pub(crate) fn record_of(&self, meta: &TxnMetadata) -> TxnRecord {
        TxnRecord {
            partition: self.partition_for(&meta.id),
            key: encode_key(&meta.id),
            value: Some(meta.to_value().encode()),
        }
    }

    /// Forgets `transactional_id` and returns its tombstone.
    pub(crate) fn remove(&mut self, transactional_id: &str) -> TxnRecord {
        let removed = self.txns.remove(transactional_id);
        assert!(removed.is_some(), "removing unknown transactional id {transactional_id}");
        TxnRecord { partition: self.partition_for(transactional_id), key: encode_key(transactional_id), value: None }
    }

    pub(crate) fn check_invariants(&self) {
        for (id, meta) in &self.txns {
            assert_eq!(id, &meta.id);
            meta.check_invariants();
        }
    }
}

/// The markers that complete `meta`'s transaction (it is preparing).
pub(crate) fn markers_for(meta: &TxnMetadata) -> WriteMarkers {
    assert!(meta.state.is_preparing(), "{}: markers outside PrepareCommit/PrepareAbort", meta.id);
    WriteMarkers {
        transactional_id: meta.id.clone(),
        producer_id: meta.producer_id,
        producer_epoch: meta.producer_epoch,
        commit: meta.state == TxnState::PrepareCommit,
        partitions: meta.partitions.iter().cloned().collect(),
        transaction_version: meta.client_version,
    }
}
