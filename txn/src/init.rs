//! InitProducerId with a transactional id: a new producer id, an epoch bump that fences older
//! producers, or (KIP-360) a bump for a producer recovering from an error.
//!
//! As Kafka's `prepareInitProducerIdTransit`: a preparing transaction answers
//! CONCURRENT_TRANSACTIONS; an ongoing one is aborted under a fenced epoch (+1) and the caller
//! gets CONCURRENT_TRANSACTIONS, so it retries once the abort completes and bumps again; an
//! exhausted epoch rotates to a new producer id.

use crate::coordinator::{Coordinator, markers_for};
use crate::error::TxnError;
use crate::metadata::{TxnMetadata, epoch_exhausted};
use crate::replies::{Effects, InitProducerIdReply, Outcome};
use crate::requests::InitProducerIdRequest;
use crate::state::TxnState;

/// InitProducerId v4 is the first version that knows PRODUCER_FENCED.
const FENCED_MIN_VERSION: i16 = 4;

impl Coordinator {
    pub fn init_producer_id(&mut self, request: InitProducerIdRequest, now_ms: i64) -> Outcome<InitProducerIdReply> {
        let version = request.version;
        let outcome = match self.init(request, now_ms) {
            Ok(outcome) => outcome,
            Err(error) => Outcome {
                reply: InitProducerIdReply::error(error.for_version(version, FENCED_MIN_VERSION)),
                effects: Effects::default(),
            },
        };
        self.check_invariants();
        outcome
    }

    fn init(&mut self, request: InitProducerIdRequest, now_ms: i64) -> Result<Outcome<InitProducerIdReply>, TxnError> {
        if request.transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        if request.transaction_timeout_ms <= 0
            || request.transaction_timeout_ms > self.config.transaction_max_timeout_ms
        {
            return Err(TxnError::InvalidTransactionTimeout);
        }
        let expected = match (request.producer_id, request.producer_epoch) {
            (-1, -1) => None,
            (id, epoch) if id >= 0 && epoch >= 0 => Some((id, epoch)),
            _ => return Err(TxnError::InvalidRequest),
        };
        let mut meta = match self.txns.get(&request.transactional_id) {
            Some(meta) => meta.clone(),
            None => {
                let producer_id = self.ids.next_producer_id()?;
                TxnMetadata::new(request.transactional_id.clone(), producer_id, request.transaction_timeout_ms, now_ms)
            }
        };
        // Kafka checks its pending completion first: a preparing transaction answers
        // CONCURRENT_TRANSACTIONS whoever asks.
        if meta.state.is_preparing() {
            return Err(TxnError::ConcurrentTransactions);
        }
        if let Some((id, epoch)) = expected {
            // The caller may continue if it holds the current producer id, if the id was just
            // created, or if it retries after a rotation it never heard about.
            let valid = meta.producer_epoch == -1
                || id == meta.producer_id
                || (id == meta.previous_producer_id && epoch_exhausted(epoch));
            if !valid {
                return Err(TxnError::ProducerFenced);
            }
        }
        match meta.state {
            TxnState::Ongoing => Ok(self.fence_and_abort(meta, now_ms)),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let expected_epoch = expected.map(|(_, epoch)| epoch);
                if meta.epoch_exhausted() && expected_epoch.is_none_or(|e| e == meta.producer_epoch) {
                    let new_id = self.ids.next_producer_id()?;
                    meta.last_producer_epoch = if expected.is_some() { meta.producer_epoch } else { -1 };
                    meta.previous_producer_id = meta.producer_id;
                    meta.producer_id = new_id;
                    meta.producer_epoch = 0;
                } else {
                    let (epoch, last) = bumped_epoch(&meta, expected_epoch)?;
                    meta.producer_epoch = epoch;
                    meta.last_producer_epoch = last;
                }
                meta.state = TxnState::Empty;
                meta.timeout_ms = request.transaction_timeout_ms;
                meta.partitions.clear();
                meta.start_ms = -1;
                meta.last_update_ms = now_ms;
                let reply = InitProducerIdReply {
                    error: None,
                    producer_id: meta.producer_id,
                    producer_epoch: meta.producer_epoch,
                };
                let record = self.persist(meta);
                Ok(Outcome { reply, effects: Effects { records: vec![record], markers: vec![] } })
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::Dead | TxnState::PrepareEpochFence => {
                unreachable!("{}: {:?} was answered above or is never stored", meta.id, meta.state)
            }
        }
    }

    /// Fences the producer of an ongoing transaction (epoch + 1, which no client holds) and
    /// aborts the transaction under that epoch; the caller is told CONCURRENT_TRANSACTIONS.
    /// Kafka passes through PrepareEpochFence in memory; the log sees PrepareAbort, as here.
    pub(crate) fn fence_and_abort(&mut self, mut meta: TxnMetadata, now_ms: i64) -> Outcome<InitProducerIdReply> {
        assert_eq!(meta.state, TxnState::Ongoing);
        // Clients are never given an epoch past i16::MAX - 1, so the bump fences them. (One that
        // holds i16::MAX got there through an earlier fence; the next InitProducerId rotates its
        // producer id.)
        meta.producer_epoch = meta.producer_epoch.saturating_add(1);
        meta.last_producer_epoch = -1;
        meta.state = TxnState::PrepareAbort;
        meta.last_update_ms = now_ms;
        let markers = markers_for(&meta);
        let record = self.persist(meta);
        Outcome {
            reply: InitProducerIdReply::error(TxnError::ConcurrentTransactions),
            effects: Effects { records: vec![record], markers: vec![markers] },
        }
    }
}

/// The epoch (and last epoch) after InitProducerId bumps it, as Kafka's
/// `prepareIncrementProducerEpoch`: a fresh init bumps and forgets the last epoch; a KIP-360
/// caller holding the current epoch bumps and remembers it; one holding the last epoch is
/// retrying a bump that succeeded and gets the current epoch again; anyone else is fenced.
fn bumped_epoch(meta: &TxnMetadata, expected_epoch: Option<i16>) -> Result<(i16, i16), TxnError> {
    // Exhausted epochs rotate the producer id before this is called, unless the caller's epoch
    // is not the current one: then it can only be a retry or a zombie.
    let bumped = (!meta.epoch_exhausted()).then_some(meta.producer_epoch + 1);
    match (expected_epoch, bumped) {
        (None, Some(bumped)) => Ok((bumped, -1)),
        (Some(e), Some(bumped)) if meta.producer_epoch == -1 || e == meta.producer_epoch => {
            Ok((bumped, meta.producer_epoch))
        }
        (Some(e), _) if e == meta.last_producer_epoch => Ok((meta.producer_epoch, meta.last_producer_epoch)),
        _ => Err(TxnError::ProducerFenced),
    }
}
