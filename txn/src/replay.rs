//! Loading `__transaction_state` at start-up, and compacting it.
//!
//! [`Replayer`] takes the records in log order (later records win, tombstones delete) and builds
//! the coordinator. As in Kafka, what is not in the log comes back at its default: the last
//! producer epoch is -1 (a KIP-360 retry spanning a restart is fenced). Transactions left in
//! PrepareCommit/PrepareAbort need their markers written again: the broker takes them from
//! [`Coordinator::pending_markers`] after loading. Ongoing ones keep their start time and are
//! aborted by `tick` once their timeout passes.
//!
//! [`Coordinator::snapshot`] is the other direction: one record per transactional id, which
//! replays to the same state.

use std::collections::BTreeMap;

use crate::config::TxnConfig;
use crate::coordinator::Coordinator;
use crate::ids::ProducerIdSource;
use crate::metadata::TxnMetadata;
use crate::records::{RecordError, TxnLogValue, TxnRecord, decode_key};
use crate::state::TxnState;

/// Rebuilds a [`Coordinator`] from `__transaction_state` records. While it runs the broker
/// answers transaction requests with COORDINATOR_LOAD_IN_PROGRESS.
pub struct Replayer {
    config: TxnConfig,
    ids: Box<dyn ProducerIdSource>,
    txns: BTreeMap<String, TxnLogValue>,
    records: u64,
    skipped: u64,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer").field("txns", &self.txns.len()).field("records", &self.records).finish()
    }
}

impl Coordinator {
    /// Starts loading: feed every record of every `__transaction_state` partition (each in
    /// offset order) to [`Replayer::apply`], then call [`Replayer::finish`].
    pub fn replayer(config: TxnConfig, ids: Box<dyn ProducerIdSource>) -> Replayer {
        Replayer { config, ids, txns: BTreeMap::new(), records: 0, skipped: 0 }
    }

    /// One record per transactional id holding its durable state, for rewriting the log.
    pub fn snapshot(&self) -> Vec<TxnRecord> {
        self.txns.values().map(|meta| self.record_of(meta)).collect()
    }
}

impl Replayer {
    /// Applies one record (`None` value: a tombstone). Keys of unknown versions are skipped; an
    /// undecodable record, or a state Kafka never writes (Dead, PrepareEpochFence), is an error
    /// the broker logs, and the state is unchanged by it.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RecordError> {
        let Some(id) = decode_key(key)? else {
            self.records += 1;
            self.skipped += 1;
            return Ok(());
        };
        let value = value.map(TxnLogValue::decode).transpose()?;
        if let Some(v) = &value {
            if matches!(v.state, TxnState::Dead | TxnState::PrepareEpochFence) {
                return Err(RecordError::Malformed("a transaction state that is never written"));
            }
            if v.producer_id < 0 || v.producer_epoch < 0 {
                return Err(RecordError::Malformed("a transaction without a producer id and epoch"));
            }
            if v.next_producer_id != -1 && v.client_transaction_version < 2 {
                return Err(RecordError::Malformed("a next producer id outside transaction version 2"));
            }
            if v.state == TxnState::Ongoing && (v.partitions.is_empty() || v.start_ms < 0) {
                return Err(RecordError::Malformed("an ongoing transaction without partitions or start"));
            }
        }
        self.records += 1;
        match value {
            Some(v) => self.txns.insert(id, v),
            None => self.txns.remove(&id),
        };
        Ok(())
    }

    /// How many records were applied, and how many of them had keys of unknown versions.
    pub fn counts(&self) -> (u64, u64) {
        (self.records, self.skipped)
    }

    /// Builds the coordinator.
    pub fn finish(self) -> Coordinator {
        let mut coordinator = Coordinator::new(self.config, self.ids);
        for (id, mut value) in self.txns {
            if value.state.is_idle() {
                // Complete* records hold an empty partition list; a foreign log might not.
                value.partitions.clear();
                value.next_producer_id = -1;
            }
            let meta = TxnMetadata::from_value(id.clone(), value);
            meta.check_invariants();
            coordinator.txns.insert(id, meta);
        }
        coordinator
    }
}
