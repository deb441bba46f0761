//! DescribeTransactions: each transactional id's state as the coordinator holds it (state name,
//! producer id and epoch, timeout, start time, partitions), or its error: INVALID_REQUEST for an
//! empty id, TRANSACTIONAL_ID_NOT_FOUND for an unknown one, COORDINATOR_LOAD_IN_PROGRESS while
//! `__transaction_state` is replayed. Other fields of an error are the schema's defaults, as in
//! Kafka's answer.

use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, ResponseKind, TopicName,
    TransactionalId,
};
use strata_txn::DescribedTxn;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;

/// The key and versions of DescribeTransactions, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeTransactions, 0, 0);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeTransactionsRequest) -> Outcome {
    let ids: Vec<String> = req.transactional_ids.iter().map(|id| id.to_string()).collect();
    let described = broker.txns.read(|c| ids.iter().map(|id| c.describe_transaction(id)).collect::<Vec<_>>()).await;
    let states = match described {
        Ok(described) => described.into_iter().map(state).collect(),
        Err(error) => req
            .transactional_ids
            .into_iter()
            .map(|id| TransactionState::default().with_transactional_id(id).with_error_code(error.code()))
            .collect(),
    };
    ctx.respond(ResponseKind::DescribeTransactions(
        DescribeTransactionsResponse::default().with_transaction_states(states),
    ))
}

fn state(txn: DescribedTxn) -> TransactionState {
    let base = TransactionState::default().with_transactional_id(TransactionalId(wire(txn.transactional_id)));
    let (Some(state), None) = (txn.state, txn.error) else {
        return base.with_error_code(strata_txn::error_code(txn.error));
    };
    let mut topics: Vec<TopicData> = Vec::new();
    for tp in txn.partitions {
        match topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
            Some(topic) => topic.partitions.push(tp.partition),
            None => topics
                .push(TopicData::default().with_topic(TopicName(wire(tp.topic))).with_partitions(vec![tp.partition])),
        }
    }
    base.with_transaction_state(wire(state.name()))
        .with_transaction_timeout_ms(txn.timeout_ms)
        .with_transaction_start_time_ms(txn.start_ms)
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.producer_epoch)
        .with_topics(topics)
}
