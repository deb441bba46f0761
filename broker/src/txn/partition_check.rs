//! The one question a partition leader asks the transaction coordinator before it writes in a
//! producer's transaction (KIP-890): is this partition in the producer's ongoing transaction
//! (transaction versions 0 and 1), or add it (version 2). Produce asks it for transactional
//! batches, TxnOffsetCommit for the group's `__consumer_offsets` partition; each turns the
//! answer into its own API's errors. The coordinator is asked directly when it is this broker,
//! otherwise over AddPartitionsToTxn v5 (the broker form, as Kafka's `AddPartitionsToTxnManager`
//! sends it) at the leader of the transactional id's `__transaction_state` partition.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId};
use strata_groups::TopicPartition;
use strata_txn::{AddPartitionsRequest, TxnVersion, VerifyPartitionsRequest};

use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::state::Broker;
use crate::txn::TXN_STATE_TOPIC;

/// The AddPartitionsToTxn version a leader's add carries (Kafka's broker form).
const BROKER_ADD_VERSION: i16 = 5;
/// How long a remote coordinator may take to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

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
    match crate::coordinator_owner::check_transaction(broker, producer.transactional_id) {
        Ok(()) => ask_here(broker, producer, tp, add).await,
        Err(ResponseError::NotCoordinator) => ask_coordinator(broker, producer, tp, add).await,
        Err(error) => Err(error),
    }
}

/// This broker coordinates the transaction: asks its coordinator.
async fn ask_here(
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

/// Another broker coordinates the transaction: asks it with AddPartitionsToTxn v5.
async fn ask_coordinator(
    broker: &Broker,
    producer: TxnProducer<'_>,
    tp: TopicPartition,
    add: bool,
) -> Result<(), ResponseError> {
    let partition = broker.txns.partition_for(producer.transactional_id);
    let coordinator = crate::coordinator_owner::coordinator_endpoint(broker, TXN_STATE_TOPIC, partition)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    let topic =
        AddPartitionsToTxnTopic::default().with_name(TopicName(wire(tp.topic))).with_partitions(vec![tp.partition]);
    let transaction = AddPartitionsToTxnTransaction::default()
        .with_transactional_id(TransactionalId(wire(producer.transactional_id)))
        .with_producer_id(ProducerId(producer.producer_id))
        .with_producer_epoch(producer.producer_epoch)
        .with_verify_only(!add)
        .with_topics(vec![topic]);
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![transaction]);
    let response =
        broker.peers.call(&coordinator, BROKER_ADD_VERSION, &request, PEER_TIMEOUT).await.map_err(|error| {
            tracing::info!(coordinator = coordinator.id, %error, "cannot ask the transaction coordinator");
            ResponseError::NetworkException
        })?;
    let partition_code = response
        .results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| &t.results_by_partition)
        .map(|p| p.partition_error_code)
        .find(|&code| code != 0);
    match partition_code.or(Some(response.error_code).filter(|&code| code != 0)) {
        None => Ok(()),
        Some(code) => Err(ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError)),
    }
}
