//! EndTxn (commit or abort) and the completion that follows once the markers are written.
//!
//! EndTxn moves an ongoing transaction to PrepareCommit/PrepareAbort (persisted; then the reply)
//! and asks the broker to write the markers; [`Coordinator::markers_written`] moves it to
//! CompleteCommit/CompleteAbort. Under transaction version 2 (EndTxn v5+) every EndTxn bumps the
//! epoch and the reply carries the epoch (and, when the old one was exhausted, the new producer
//! id) to continue with. A TV2 transaction's retry carries the epoch from before the bump; an
//! abort with the current epoch when no transaction is open (KIP-890's "empty abort") bumps
//! the epoch and completes at once, there being no partition to mark. Kafka's table for an
//! idle TV2 transaction ("retry" = the epoch before the bump, "current" = the stored one):
//!
//! | state | abort, retry | abort, current | commit, retry | commit, current |
//! |---|---|---|---|---|
//! | Empty | PRODUCER_FENCED | bump | INVALID_TXN_STATE | INVALID_TXN_STATE |
//! | CompleteAbort | NONE | bump | INVALID_TXN_STATE | INVALID_TXN_STATE |
//! | CompleteCommit | INVALID_TXN_STATE | bump | NONE | INVALID_TXN_STATE |

use crate::coordinator::{Coordinator, markers_for};
use crate::error::TxnError;
use crate::metadata::{TxnMetadata, TxnVersion};
use crate::records::TxnRecord;
use crate::replies::{Effects, EndTxnReply, Outcome};
use crate::requests::EndTxnRequest;
use crate::state::TxnState;

/// EndTxn v2 is the first version that knows PRODUCER_FENCED.
const FENCED_MIN_VERSION: i16 = 2;
/// EndTxn v5 is transaction version 2.
const TV2_MIN_VERSION: i16 = 5;

impl Coordinator {
    pub fn end_txn(&mut self, request: EndTxnRequest, now_ms: i64) -> Outcome<EndTxnReply> {
        let version = request.version;
        let outcome = match self.end(request, now_ms) {
            Ok(outcome) => outcome,
            Err(error) => Outcome {
                reply: EndTxnReply::error(error.for_version(version, FENCED_MIN_VERSION)),
                effects: Effects::default(),
            },
        };
        self.check_invariants();
        outcome
    }

    /// The broker wrote every marker of `transactional_id`'s preparing transaction (the one
    /// with this producer id and epoch, as [`crate::WriteMarkers`] named them): the transaction
    /// completes. Markers that no longer match a preparing transaction (a second report, or a
    /// log rebuilt since) answer INVALID_TXN_STATE and change nothing.
    pub fn markers_written(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        now_ms: i64,
    ) -> Result<Effects, TxnError> {
        let meta = self.txns.get(transactional_id).ok_or(TxnError::InvalidTxnState)?;
        if !meta.state.is_preparing() || meta.producer_id != producer_id || meta.producer_epoch != producer_epoch {
            return Err(TxnError::InvalidTxnState);
        }
        let record = self.complete(meta.clone(), now_ms);
        self.check_invariants();
        Ok(Effects { records: vec![record], markers: vec![] })
    }

    /// PrepareCommit/PrepareAbort → CompleteCommit/CompleteAbort.
    fn complete(&mut self, mut meta: TxnMetadata, now_ms: i64) -> TxnRecord {
        meta.state =
            if meta.state == TxnState::PrepareCommit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        if meta.next_producer_id != -1 {
            // TV2 exhausted the epoch at this EndTxn: the producer continues under the new id.
            meta.previous_producer_id = meta.producer_id;
            meta.producer_id = meta.next_producer_id;
            meta.next_producer_id = -1;
            meta.last_producer_epoch = meta.producer_epoch;
            meta.producer_epoch = 0;
        }
        meta.partitions.clear();
        meta.last_update_ms = now_ms;
        self.persist(meta)
    }

    fn end(&mut self, request: EndTxnRequest, now_ms: i64) -> Result<Outcome<EndTxnReply>, TxnError> {
        if request.transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        let client_version = if request.version >= TV2_MIN_VERSION { TxnVersion::V2 } else { TxnVersion::V1 };
        let meta = self.txns.get(&request.transactional_id).ok_or(TxnError::InvalidProducerIdMapping)?;
        let (id, epoch) = (request.producer_id, request.producer_epoch);
        let tv2 = meta.client_version.bumps_epoch();
        // A TV2 retry of an EndTxn that succeeded: the stored epoch is the request's + 1, or the
        // producer id rotated (the old epoch was i16::MAX - 1, the new one is 0).
        let retry_on_bump = tv2 && i32::from(meta.producer_epoch) == i32::from(epoch) + 1;
        let retry_on_rotation =
            tv2 && meta.previous_producer_id == id && epoch == i16::MAX - 1 && meta.producer_epoch == 0;
        let retry = retry_on_bump || retry_on_rotation;
        let current = epoch == meta.producer_epoch;
        let valid_epoch = match meta.state {
            TxnState::CompleteCommit | TxnState::CompleteAbort if tv2 => retry || current,
            _ => current,
        };
        if meta.producer_id != id && !retry_on_rotation {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        // While markers are written Kafka holds a pending completion and answers every EndTxn
        // with CONCURRENT_TRANSACTIONS before looking at the epoch (KAFKA-18464: a TV2 producer
        // that already holds the bumped epoch must not be fenced by its next EndTxn).
        if meta.state.is_preparing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if !valid_epoch {
            return Err(TxnError::ProducerFenced);
        }
        let as_before = EndTxnReply { error: None, producer_id: meta.producer_id, producer_epoch: meta.producer_epoch };
        // With TV1 a retry carries the current epoch; with TV2 the one before the bump.
        let repeated = if tv2 { retry } else { current };
        let empty_abort = !request.commit && client_version.bumps_epoch() && !retry;
        match (meta.state, request.commit) {
            (TxnState::Ongoing, commit) => {
                let meta = meta.clone();
                self.prepare_end(meta, commit, client_version, now_ms)
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if repeated => {
                Ok(Outcome { reply: as_before, effects: Effects::default() })
            }
            (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false) if empty_abort => {
                let meta = meta.clone();
                self.prepare_end(meta, false, client_version, now_ms)
            }
            _ => Err(TxnError::InvalidTxnState),
        }
    }

    /// Ongoing (or, for an empty abort, idle) → PrepareCommit/PrepareAbort, bumping the epoch
    /// under TV2. With no partition to mark, the transaction completes at once.
    fn prepare_end(
        &mut self,
        mut meta: TxnMetadata,
        commit: bool,
        client_version: TxnVersion,
        now_ms: i64,
    ) -> Result<Outcome<EndTxnReply>, TxnError> {
        if client_version.bumps_epoch() {
            if meta.epoch_exhausted() {
                meta.next_producer_id = self.ids.next_producer_id()?;
            }
            meta.last_producer_epoch = meta.producer_epoch;
            // Only a client that reached i16::MAX through a fence holds it; it was given a new
            // producer id above, so saturating leaves nobody unfenced.
            meta.producer_epoch = meta.producer_epoch.saturating_add(1);
        }
        meta.client_version = client_version;
        meta.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        meta.last_update_ms = now_ms;
        // The producer continues with what the completed transaction will hold.
        let reply = if meta.next_producer_id != -1 {
            EndTxnReply { error: None, producer_id: meta.next_producer_id, producer_epoch: 0 }
        } else {
            EndTxnReply { error: None, producer_id: meta.producer_id, producer_epoch: meta.producer_epoch }
        };
        let mut effects = Effects::default();
        if meta.partitions.is_empty() {
            effects.records.push(self.persist(meta.clone()));
            effects.records.push(self.complete(meta, now_ms));
        } else {
            effects.markers.push(markers_for(&meta));
            effects.records.push(self.persist(meta));
        }
        Ok(Outcome { reply, effects })
    }
}
