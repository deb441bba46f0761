//! AddPartitionsToTxn (a producer's own form, and the TV2 form a partition leader sends on its
//! behalf), its verify-only form (KIP-890 part 1), and AddOffsetsToTxn, which adds the group's
//! `__consumer_offsets` partition.

use strata_groups::TopicPartition;

use crate::coordinator::Coordinator;
use crate::error::TxnError;
use crate::metadata::{TxnMetadata, TxnVersion};
use crate::replies::{Effects, Outcome};
use crate::requests::{AddOffsetsRequest, AddPartitionsRequest, VerifyPartitionsRequest};
use crate::state::TxnState;

/// AddPartitionsToTxn and AddOffsetsToTxn v2 are the first versions that know PRODUCER_FENCED.
const FENCED_MIN_VERSION: i16 = 2;

/// The name of the group offsets topic, whose partitions join a transaction through AddOffsetsToTxn.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

impl Coordinator {
    /// Adds partitions to the transaction, starting it if none is open. The reply is the one
    /// error for every partition of the request (`None` for success).
    pub fn add_partitions(&mut self, request: AddPartitionsRequest, now_ms: i64) -> Outcome<Option<TxnError>> {
        let AddPartitionsRequest {
            version,
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            transaction_version,
        } = request;
        let outcome = self.add(&transactional_id, producer_id, producer_epoch, partitions, transaction_version, now_ms);
        outcome_for_version(outcome, version)
    }

    /// Adds the group's offsets partition to the transaction, so TxnOffsetCommits of the group
    /// become visible with the commit marker.
    pub fn add_offsets(&mut self, request: AddOffsetsRequest, now_ms: i64) -> Outcome<Option<TxnError>> {
        let tp = TopicPartition { topic: OFFSETS_TOPIC.into(), partition: request.offsets_partition };
        let version = self.txns.get(&request.transactional_id).map_or(TxnVersion::V1, |m| m.client_version);
        let outcome =
            self.add(&request.transactional_id, request.producer_id, request.producer_epoch, vec![tp], version, now_ms);
        outcome_for_version(outcome, request.version)
    }

    /// The verify-only form: whether each partition is already in the transaction. Changes
    /// nothing. A partition outside it answers TRANSACTION_ABORTABLE.
    pub fn verify_partitions(&self, request: &VerifyPartitionsRequest) -> Vec<(TopicPartition, Option<TxnError>)> {
        let verdict =
            self.current(&request.transactional_id, request.producer_id, request.producer_epoch).and_then(|meta| {
                if meta.state.is_preparing() { Err(TxnError::ConcurrentTransactions) } else { Ok(meta) }
            });
        request
            .partitions
            .iter()
            .map(|tp| {
                let error = match verdict {
                    Err(error) => Some(error),
                    Ok(meta) if meta.partitions.contains(tp) => None,
                    Ok(_) => Some(TxnError::TransactionAbortable),
                };
                (tp.clone(), error)
            })
            .collect()
    }

    /// The transactional id's state if `producer_id` and `producer_epoch` are its current ones:
    /// Kafka's checks, in its order.
    pub(crate) fn current(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TxnMetadata, TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidRequest);
        }
        let meta = self.txns.get(transactional_id).ok_or(TxnError::InvalidProducerIdMapping)?;
        if meta.producer_id != producer_id {
            Err(TxnError::InvalidProducerIdMapping)
        } else if meta.producer_epoch != producer_epoch {
            Err(TxnError::ProducerFenced)
        } else {
            Ok(meta)
        }
    }

    fn add(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
        transaction_version: TxnVersion,
        now_ms: i64,
    ) -> Outcome<Option<TxnError>> {
        let meta = match self.current(transactional_id, producer_id, producer_epoch) {
            Ok(meta) => meta,
            Err(error) => return Outcome { reply: Some(error), effects: Effects::default() },
        };
        if meta.state.is_preparing() {
            return Outcome { reply: Some(TxnError::ConcurrentTransactions), effects: Effects::default() };
        }
        if partitions.is_empty()
            || (meta.state == TxnState::Ongoing && partitions.iter().all(|tp| meta.partitions.contains(tp)))
        {
            // Nothing new: Kafka answers at once without a write.
            return Outcome { reply: None, effects: Effects::default() };
        }
        let mut meta = meta.clone();
        if meta.state != TxnState::Ongoing {
            meta.start_ms = now_ms;
        }
        meta.state = TxnState::Ongoing;
        meta.partitions.extend(partitions);
        meta.client_version = transaction_version;
        meta.last_update_ms = now_ms;
        let record = self.persist(meta);
        Outcome { reply: None, effects: Effects { records: vec![record], markers: vec![] } }
    }
}

fn outcome_for_version(mut outcome: Outcome<Option<TxnError>>, version: i16) -> Outcome<Option<TxnError>> {
    outcome.reply = outcome.reply.map(|e| e.for_version(version, FENCED_MIN_VERSION));
    outcome
}
