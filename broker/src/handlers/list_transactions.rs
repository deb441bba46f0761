//! ListTransactions: the transactions the coordinator holds, filtered by state names (unknown
//! names are reported back), producer ids, v1+ a minimum running time (KIP-994) and v2+ a
//! transactional id pattern (KIP-1152, a regular expression the whole id must match; an
//! invalid one is INVALID_REGULAR_EXPRESSION). COORDINATOR_LOAD_IN_PROGRESS while
//! `__transaction_state` is replayed.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, ResponseKind, TransactionalId,
};
use strata_txn::ListTransactionsFilter;

use crate::api::ApiSpec;
use crate::errors::ErrorCode;
use crate::groups::convert::wire;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Broker, now_ms};

/// The key and versions of ListTransactions, from which the route and ApiVersions are built.
pub const API: ApiSpec = ApiSpec::new(ApiKey::ListTransactions, 0, 2);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ListTransactionsRequest) -> Outcome {
    let respond = |response: ListTransactionsResponse| ctx.respond(ResponseKind::ListTransactions(response));
    let pattern = match req.transactional_id_pattern.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(pattern) => match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(regex) => Some(regex),
            Err(error) => {
                tracing::debug!(%error, "invalid transactional id pattern");
                let code = ResponseError::InvalidRegularExpression.code();
                return respond(ListTransactionsResponse::default().with_error_code(code));
            }
        },
    };
    let filter = ListTransactionsFilter {
        states: req.state_filters.iter().map(|s| s.to_string()).collect(),
        producer_ids: req.producer_id_filters.iter().map(|p| p.0).collect(),
        duration_ms: req.duration_filter,
    };
    let listed = match broker.txns.read(|c| c.list_transactions(&filter, now_ms())).await {
        Ok(listed) => listed,
        Err(error) => return respond(ListTransactionsResponse::default().with_error_code(error.code())),
    };
    let states = listed
        .transactions
        .into_iter()
        .filter(|t| pattern.as_ref().is_none_or(|p| p.is_match(&t.transactional_id)))
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(wire(t.transactional_id)))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transaction_state(wire(t.state.name()))
        })
        .collect();
    respond(
        ListTransactionsResponse::default()
            .with_unknown_state_filters(listed.unknown_state_filters.into_iter().map(wire).collect())
            .with_transaction_states(states),
    )
}
