//! The transaction coordinator driver across a restart, in process over a real log: a
//! transaction whose markers were not written when the broker stopped comes back preparing, and
//! `load` hands its markers back to be written; `__transaction_state` is compacted by snapshot
//! and replays to the same state.

use std::sync::Arc;

use clap::Parser;
use strata_broker::config::{BrokerConfig, Cli};
use strata_broker::producer_ids::ProducerIds;
use strata_broker::topics::Topics;
use strata_broker::txn::Transactions;
use strata_groups::TopicPartition;
use strata_log::{LogManager, LogOptions};
use strata_txn::{AddPartitionsRequest, EndTxnRequest, InitProducerIdRequest, TxnState, TxnVersion};

/// The broker's coordinator over a one-partition `__transaction_state` in `dir`, loaded.
async fn open(dir: &std::path::Path) -> (LogManager, Topics, Transactions) {
    let args =
        ["strata", "--data-dir", dir.to_str().expect("utf-8"), "--override", "transaction.state.log.num.partitions=1"];
    let config = BrokerConfig::from_cli(Cli::parse_from(args)).expect("valid config");
    let log = LogManager::open(dir, LogOptions::default()).expect("log");
    let topics = Topics::load(&log, &config, 0).expect("topics");
    let txns = Transactions::open(&log, &topics, &config, Arc::new(ProducerIds::new(dir))).expect("coordinator");
    (log, topics, txns)
}

async fn init(txns: &Transactions, id: &str) -> (i64, i16) {
    let request = InitProducerIdRequest {
        version: 5,
        transactional_id: id.into(),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    let (reply, _) = txns.call(|c, now| c.init_producer_id(request, now)).await.expect("written");
    assert_eq!(reply.error, None);
    (reply.producer_id, reply.producer_epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_not_written_before_a_stop_are_handed_back_after_the_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = TopicPartition::new("out", 0);
    let expected = {
        let (log, _topics, txns) = open(dir.path()).await;
        assert!(txns.load().await.expect("replay").is_empty());
        let (producer_id, producer_epoch) = init(&txns, "t").await;
        let add = AddPartitionsRequest {
            version: 3,
            transactional_id: "t".into(),
            producer_id,
            producer_epoch,
            partitions: vec![tp.clone()],
            transaction_version: TxnVersion::V1,
        };
        txns.call(|c, now| c.add_partitions(add, now)).await.expect("written");
        let end = EndTxnRequest { version: 4, transactional_id: "t".into(), producer_id, producer_epoch, commit: true };
        // The broker stops after EndTxn's record and reply, before the markers are written.
        let (reply, markers) = txns.call(|c, now| c.end_txn(end, now)).await.expect("written");
        assert_eq!(reply.error, None);
        log.shutdown().expect("clean stop");
        markers
    };
    let (_log, _topics, txns) = open(dir.path()).await;
    let pending = txns.load().await.expect("replay");
    assert_eq!(pending, expected, "the same markers, to be written again");
    assert_eq!(pending[0].partitions, vec![tp]);
    let state = txns.read(|c| c.describe_transaction("t").state).await.expect("loaded");
    assert_eq!(state, Some(TxnState::PrepareCommit));
    assert!(txns.markers_written(&pending[0]).await.is_empty(), "the completion is written");
    let state = txns.read(|c| c.describe_transaction("t").state).await.expect("loaded");
    assert_eq!(state, Some(TxnState::CompleteCommit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_log_is_compacted_by_snapshot_and_replays_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let before = {
        let (log, topics, txns) = open(dir.path()).await;
        txns.load().await.expect("replay");
        // More records than a partition takes before its snapshot (10,000).
        for round in 0..520 {
            for id in &ids {
                let (_, epoch) = init(&txns, id).await;
                assert_eq!(epoch, i16::try_from(round).expect("small"));
            }
        }
        let topic = topics.get(strata_broker::txn::TXN_STATE_TOPIC).expect("the state topic");
        let partition = Arc::clone(topic.partition(0).expect("partition 0"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while partition.log_start_offset() == 0 {
            assert!(std::time::Instant::now() < deadline, "the log start never moved");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            partition.high_watermark() - partition.log_start_offset() < 10_000,
            "replay reads a snapshot and after"
        );
        let snapshot = txns.read(|c| ids.iter().map(|id| c.describe_transaction(id)).collect::<Vec<_>>()).await;
        log.shutdown().expect("clean stop");
        snapshot.expect("loaded")
    };
    let (_log, _topics, txns) = open(dir.path()).await;
    txns.load().await.expect("replay");
    let after = txns.read(|c| ids.iter().map(|id| c.describe_transaction(id)).collect::<Vec<_>>()).await;
    assert_eq!(after.expect("loaded"), before, "the compacted log replays to the same state");
}
