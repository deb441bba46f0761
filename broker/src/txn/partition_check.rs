//! The one question a partition leader asks the transaction coordinator before it writes in a
//! producer's transaction (KIP-890): is this partition in the producer's ongoing transaction
//! (transaction versions 0 and 1), or add it (version 2). Produce asks it for transactional
//! batches, TxnOffsetCommit for the group's `__consumer_offsets` partition; each turns the
//! answer into its own API's errors.

use kafka_protocol::ResponseError;
use strata_groups::TopicPartition;
use strata_txn::{AddPartitionsRequest, TxnVersion, VerifyPartitionsRequest};

use crate::errors::ErrorCode;
use crate::state::Broker;

/// The AddPartitionsToTxn version a leader's add carries (Kafka's broker form).
const BROKER_ADD_VERSION: i16 = 5;

/// The producer whose transaction is asked about.
#[derive(Debug, Clone, Copy)]
pub struct TxnProducer<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Whether `tp` is in `producer`'s ongoing transaction, or (`add`) adds it; `Err` is the
/// coordinator's error, before any API's translation.
pub async fn in_transaction(
    broker: &Broker,
    producer: TxnProducer<'_>,
    tp: TopicPartition,
    add: bool,
) -> Result<(), ResponseError> {
    let TxnProducer { transactional_id, producer_id, producer_epoch } = producer;
    let asked = if add {
        let request = AddPartitionsRequest {
            version: BROKER_ADD_VERSION,
            transactional_id: transactional_id.to_owned(),
            producer_id,
            producer_epoch,
            partitions: vec![tp],
            transaction_version: TxnVersion::V2,
        };
        // An add writes one record and no markers.
        broker.txns.call(|c, now| c.add_partitions(request, now)).await.map(|(error, _)| error)
    } else {
        let request = VerifyPartitionsRequest {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            producer_epoch,
            partitions: vec![tp],
        };
        broker.txns.read(|c| c.verify_partitions(&request).into_iter().find_map(|(_, e)| e)).await
    };
    match asked {
        Ok(None) => Ok(()),
        Ok(Some(error)) => Err(error.response_error()),
        Err(unavailable) => Err(unavailable.kafka_error()),
    }
}
