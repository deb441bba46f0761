//! The transaction coordinator driver when a write to `__transaction_state` fails: over a real
//! log whose writer has fault injection, the call answers an error, and the coordinator is
//! rebuilt from the log, so the change that failed leaves no trace (as after a restart).

use std::sync::Arc;

use clap::Parser;
use strata_broker::config::{BrokerConfig, Cli};
use strata_broker::producer_ids::ProducerIds;
use strata_broker::topics::Topics;
use strata_broker::txn::{Transactions, TxnUnavailable};
use strata_groups::TopicPartition;
use strata_log::io::faults::{Faults, TearMode};
use strata_log::io::{Writer, WriterOptions};
use strata_log::{LogManager, LogOptions};
use strata_txn::{AddPartitionsRequest, InitProducerIdRequest, TxnState, TxnVersion};

const ID: &str = "t";

/// The broker's coordinator over a one-partition `__transaction_state` in `dir`, its writer faulted.
async fn coordinator(dir: &std::path::Path, faults: &Arc<Faults>) -> (LogManager, Transactions) {
    let args =
        ["strata", "--data-dir", dir.to_str().expect("utf-8"), "--override", "transaction.state.log.num.partitions=1"];
    let config = BrokerConfig::from_cli(Cli::parse_from(args)).expect("valid config");
    let writer = Writer::start_with_faults(WriterOptions::default(), Arc::clone(faults)).expect("writer");
    let log = LogManager::with_writer(dir, LogOptions::default(), writer).expect("log");
    let topics = Topics::load(&log, &config, 0).expect("topics");
    let ids = Arc::new(ProducerIds::new(dir));
    let txns = Transactions::open(&log, &topics, &config, ids).expect("coordinator");
    assert!(matches!(txns.read(|c| c.len()).await, Err(TxnUnavailable::Loading)), "loading until replayed");
    assert!(txns.load().await.expect("replay").is_empty());
    (log, txns)
}

async fn add(txns: &Transactions, producer: (i64, i16), partition: i32) -> Result<(), TxnUnavailable> {
    let request = AddPartitionsRequest {
        version: 3,
        transactional_id: ID.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        partitions: vec![TopicPartition::new("out", partition)],
        transaction_version: TxnVersion::V1,
    };
    let (error, _) = txns.call(|c, now| c.add_partitions(request, now)).await?;
    assert_eq!(error, None, "the coordinator accepted it");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_whose_write_fails_leaves_no_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Arc::new(Faults::default());
    let (_log, txns) = coordinator(dir.path(), &faults).await;

    let init = InitProducerIdRequest {
        version: 5,
        transactional_id: ID.into(),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    let (reply, _) = txns.call(|c, now| c.init_producer_id(init, now)).await.expect("a healthy write");
    let producer = (reply.producer_id, reply.producer_epoch);
    add(&txns, producer, 0).await.expect("a healthy write");

    faults.tear_write_job(faults.write_jobs_seen(), 0, TearMode::FailJob);
    let failed = add(&txns, producer, 1).await;
    assert!(matches!(failed, Err(TxnUnavailable::Store(_))), "the write failed: {failed:?}");
    let described = txns.read(|c| c.describe_transaction(ID)).await.expect("loaded");
    assert_eq!(described.state, Some(TxnState::Ongoing));
    assert_eq!(described.partitions, vec![TopicPartition::new("out", 0)], "the failed add left no trace");
    assert_eq!(txns.rebuilds().await, 1, "rebuilt from the log once");
}
