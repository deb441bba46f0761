//! AddPartitionsToTxn: partitions join a producer's transaction. v0-3 are the producer's own
//! request (one transaction); v4+ the broker form (KIP-890): a batch of transactions, each either
//! `verify_only` (a partition leader asks whether its partitions are already in the transaction,
//! before it appends a transactional batch) or adding on a transaction version 2 producer's
//! behalf. As Kafka's `handleAddPartitionsToTxnRequest`: partitions of unknown topics answer
//! UNKNOWN_TOPIC_OR_PARTITION and the others of the same transaction OPERATION_NOT_ATTEMPTED,
//! without asking the coordinator; otherwise the coordinator's one error answers every partition
//! (NOT_COORDINATOR from a broker that does not coordinate the transactional id).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ResponseKind, TopicName,
};
use strata_groups::TopicPartition;
use strata_txn::{AddPartitionsRequest, TxnVersion, VerifyPartitionsRequest};

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of AddPartitionsToTxn, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::AddPartitionsToTxn, 0, 5);

/// The first version of the broker form (a batch of transactions).
const BATCHED_VERSION: i16 = 4;

/// One transaction of the request.
struct Txn<'a> {
    transactional_id: &'a str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &'a [AddPartitionsToTxnTopic],
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: AddPartitionsToTxnRequest) -> Outcome {
    let response = if ctx.api_version >= BATCHED_VERSION {
        let mut results = Vec::with_capacity(req.transactions.len());
        for t in &req.transactions {
            let txn = Txn {
                transactional_id: t.transactional_id.as_str(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                verify_only: t.verify_only,
                topics: &t.topics,
            };
            let topic_results = answer(broker, ctx.api_version, txn).await;
            results.push(
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(t.transactional_id.clone())
                    .with_topic_results(topic_results),
            );
        }
        AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
    } else {
        let txn = Txn {
            transactional_id: req.v3_and_below_transactional_id.as_str(),
            producer_id: req.v3_and_below_producer_id.0,
            producer_epoch: req.v3_and_below_producer_epoch,
            verify_only: false,
            topics: &req.v3_and_below_topics,
        };
        AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(answer(broker, ctx.api_version, txn).await)
    };
    ctx.respond(ResponseKind::AddPartitionsToTxn(response))
}

/// Every partition's error for one transaction.
async fn answer(broker: &Arc<Broker>, version: i16, txn: Txn<'_>) -> Vec<AddPartitionsToTxnTopicResult> {
    let partitions: Vec<TopicPartition> = txn
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| TopicPartition { topic: t.name.0.to_string(), partition: p }))
        .collect();
    let unknown: Vec<bool> = partitions.iter().map(|tp| !exists(broker, tp)).collect();
    let errors: Vec<i16> = if unknown.iter().any(|u| *u) {
        let code = |u: &bool| {
            if *u { ResponseError::UnknownTopicOrPartition } else { ResponseError::OperationNotAttempted }.code()
        };
        unknown.iter().map(code).collect()
    } else {
        coordinator_errors(broker, version, &txn, partitions.clone()).await
    };
    by_topic(partitions.into_iter().zip(errors))
}

/// Asks the coordinator: verify, or add (and write its record first).
async fn coordinator_errors(
    broker: &Arc<Broker>,
    version: i16,
    txn: &Txn<'_>,
    partitions: Vec<TopicPartition>,
) -> Vec<i16> {
    let count = partitions.len();
    if let Err(error) = crate::coordinator_owner::check_transaction(broker, txn.transactional_id) {
        return vec![error.code(); count];
    }
    let transactional_id = txn.transactional_id.to_owned();
    if txn.verify_only {
        let request = VerifyPartitionsRequest {
            transactional_id,
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
            partitions,
        };
        return match broker.txns.read(|c| c.verify_partitions(&request)).await {
            Ok(verdicts) => verdicts.iter().map(|(_, e)| strata_txn::error_code(*e)).collect(),
            Err(error) => vec![error.code(); count],
        };
    }
    // The broker form adds on behalf of a transaction version 2 producer (its Produce told the
    // leader); the producer's own request is transaction version 1 (or 0).
    let transaction_version = if version >= BATCHED_VERSION { TxnVersion::V2 } else { TxnVersion::V1 };
    let request = AddPartitionsRequest {
        version,
        transactional_id,
        producer_id: txn.producer_id,
        producer_epoch: txn.producer_epoch,
        partitions,
        transaction_version,
    };
    let code = match broker.txns.call(|c, now| c.add_partitions(request, now)).await {
        Ok((error, markers)) => {
            crate::txn::markers::spawn(broker, markers);
            strata_txn::error_code(error)
        }
        Err(error) => error.code(),
    };
    vec![code; count]
}

/// Whether the partition exists here (Kafka checks its metadata cache).
fn exists(broker: &Broker, tp: &TopicPartition) -> bool {
    broker.topics.get(&tp.topic).is_some_and(|t| t.partition(tp.partition).is_some())
}

/// Partition errors grouped by topic, in request order.
fn by_topic(errors: impl IntoIterator<Item = (TopicPartition, i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut topics: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (tp, code) in errors {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(tp.partition)
            .with_partition_error_code(code);
        match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
            Some(topic) => topic.results_by_partition.push(result),
            None => topics.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(wire(tp.topic)))
                    .with_results_by_partition(vec![result]),
            ),
        }
    }
    topics
}
