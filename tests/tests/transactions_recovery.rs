//! Transactions across time and crashes, on raw sockets against the real broker: a transaction
//! open past its timeout is aborted by the coordinator (abort markers in its partitions, the
//! producer fenced), and after a SIGKILL the restarted broker has replayed `__transaction_state`:
//! committed transactions stay committed, an open one is still open and is aborted by its
//! timeout, and the transactional ids keep their producer ids and epochs.

use std::time::Duration;

use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_tests::transactions::*;
use strata_tests::{Broker, BrokerOptions};

/// Timeouts and markers complete well within this.
const SETTLES_WITHIN: Duration = Duration::from_secs(30);

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let broker = Broker::start_default();
    for bootstrap in bootstraps(broker.bootstrap()) {
        let mut conn = RawConn::connect(&bootstrap);
        let (topic, id) = (unique("timeout"), unique("timeout-tx"));
        create_topic_ready(&mut conn, &topic, 2);
        let producer = init_ok(&mut conn, &id, 1_000);
        assert_eq!(add_partitions(&mut conn, &id, producer, &topic, &[0, 1]), vec![NONE, NONE]);
        for partition in 0..2 {
            let (code, _) = produce_txn(&mut conn, 9, Some(&id), &topic, partition, txn_batch(producer, 0, 2));
            assert_eq!(code, NONE, "{bootstrap}: produce to {partition}");
        }
        let aborted = wait_for_state(&mut conn, &id, "CompleteAbort", SETTLES_WITHIN);
        assert_eq!(aborted.producer_epoch, producer.1 + 1, "{bootstrap}: the abort fenced the producer");
        wait_for_layout(&mut conn, &topic, 2, &[Stored::data(2), Stored::abort()], SETTLES_WITHIN);
        let late = end_txn(&mut conn, END_TXN_VERSION, &id, producer, true);
        assert_eq!(late.error_code, PRODUCER_FENCED, "{bootstrap}: the producer's late commit");
    }
}

#[test]
fn coordinator_state_survives_a_sigkill() {
    let mut broker = Broker::start(BrokerOptions::default());
    let mut conn = RawConn::connect(broker.bootstrap());
    create_topic_ready(&mut conn, "survivors", 2);
    // A committed transaction.
    let committed = init_ok(&mut conn, "committed-tx", 60_000);
    assert_eq!(add_partitions(&mut conn, "committed-tx", committed, "survivors", &[0]), vec![NONE]);
    let (code, _) = produce_txn(&mut conn, 9, Some("committed-tx"), "survivors", 0, txn_batch(committed, 0, 3));
    assert_eq!(code, NONE);
    assert_eq!(end_txn(&mut conn, END_TXN_VERSION, "committed-tx", committed, true).error_code, NONE);
    wait_for_state(&mut conn, "committed-tx", "CompleteCommit", SETTLES_WITHIN);
    // An open one, with a short timeout, left open by the crash.
    let open = init_ok(&mut conn, "open-tx", 4_000);
    assert_eq!(add_partitions(&mut conn, "open-tx", open, "survivors", &[1]), vec![NONE]);
    let (code, _) = produce_txn(&mut conn, 9, Some("open-tx"), "survivors", 1, txn_batch(open, 0, 2));
    assert_eq!(code, NONE);
    // An idle one.
    let idle = init_ok(&mut conn, "idle-tx", 60_000);
    drop(conn);

    broker.kill();
    broker.restart();
    let mut conn = RawConn::connect(broker.bootstrap());
    let after = wait_for_state(&mut conn, "committed-tx", "CompleteCommit", SETTLES_WITHIN);
    assert_eq!((after.producer_id.0, after.producer_epoch), committed, "replayed as it was");
    assert_eq!(layout(&mut conn, "survivors", 0), vec![Stored::data(3), Stored::commit()]);
    // The open transaction came back open and is aborted once its timeout passes.
    let reopened = describe(&mut conn, "open-tx");
    assert!(
        ["Ongoing", "PrepareAbort", "CompleteAbort"].contains(&reopened.transaction_state.as_str()),
        "the open transaction after the restart: {reopened:?}"
    );
    let aborted = wait_for_state(&mut conn, "open-tx", "CompleteAbort", SETTLES_WITHIN);
    assert_eq!(aborted.producer_epoch, open.1 + 1, "fenced by the timeout abort");
    let partition_1 = |conn: &mut RawConn| layout(conn, "survivors", 1);
    let deadline = std::time::Instant::now() + SETTLES_WITHIN;
    while partition_1(&mut conn) != vec![Stored::data(2), Stored::abort()] {
        assert!(std::time::Instant::now() < deadline, "no abort marker: {:?}", partition_1(&mut conn));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The idle id keeps its producer id: a new InitProducerId bumps its epoch.
    assert_eq!(init_ok(&mut conn, "idle-tx", 60_000), (idle.0, idle.1 + 1));
}
