//! SIGKILL of the broker at a moment chosen anew each round around EndTxn: before it is sent,
//! after the coordinator received the request but before it answered, while it wrote PrepareCommit or PrepareAbort,
//! while it wrote the markers, or after. After the restart every transaction must end
//! atomically: each of its three partitions holds its data and one marker (two when the kill fell
//! between that partition's marker and the recorded completion, which has every marker written
//! again, as Kafka's coordinator does after a failover), all markers of the same kind, and the
//! kind the coordinator's final state names (a transaction caught Ongoing
//! is aborted by its timeout; one caught preparing is completed by the replay).
//! `STRATA_TXN_KILLS` sets the rounds (default 9); `STRATA_TXN_KILL_SEED` replays a run (the seed
//! is printed).

use std::time::{Duration, Instant};

use kafka_protocol::messages::{EndTxnRequest, ProducerId};
use strata_testkit::RawConn;
use strata_testkit::codes::NONE;
use strata_tests::Broker;
use strata_tests::transactions::{
    END_TXN_VERSION, Stored, add_partitions, create_topic_ready, describe, init_ok, layout, produce_txn, txn_batch,
    txn_id, unique,
};

const PARTITIONS: i32 = 3;
/// Short, so that a transaction caught Ongoing is aborted soon after the restart.
const TRANSACTION_TIMEOUT_MS: i32 = 2_000;
/// Longest wait for a transaction to end after the restart.
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// Kills land between 0 and this many milliseconds after EndTxn is sent.
const KILL_DELAY_MAX_MS: u64 = 25;

/// A small deterministic generator (xorshift), so a failing round can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Waits until `id`'s transaction has completed; returns whether it committed.
fn final_outcome(conn: &mut RawConn, id: &str) -> bool {
    let deadline = Instant::now() + SETTLE_MAX;
    loop {
        let state = describe(conn, id);
        match state.transaction_state.as_str() {
            "CompleteCommit" => return true,
            "CompleteAbort" => return false,
            _ => {}
        }
        assert!(Instant::now() < deadline, "{id} did not complete after the restart: {state:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_kill_anywhere_around_end_txn_leaves_every_transaction_atomic() {
    let rounds = env_u64("STRATA_TXN_KILLS").unwrap_or(9);
    let seed = env_u64("STRATA_TXN_KILL_SEED").unwrap_or_else(|| strata_testkit::requests::epoch_ms() as u64) | 1;
    println!("transactions_kill: seed {seed} (STRATA_TXN_KILL_SEED), {rounds} rounds");
    let mut rng = Rng(seed);
    let mut broker = Broker::start_default();
    let mut outcomes = [0u32; 2];
    // Rounds killed before EndTxn, at once after it, and a moment after it.
    let mut kills = [0u32; 3];
    for round in 0..rounds {
        let mut conn = RawConn::connect(broker.bootstrap());
        let (topic, id) = (unique(&format!("kill{round}")), unique(&format!("kill-tx{round}")));
        create_topic_ready(&mut conn, &topic, PARTITIONS);
        let producer = init_ok(&mut conn, &id, TRANSACTION_TIMEOUT_MS);
        let all: Vec<i32> = (0..PARTITIONS).collect();
        assert!(add_partitions(&mut conn, &id, producer, &topic, &all).iter().all(|c| *c == NONE));
        for partition in 0..PARTITIONS {
            let (code, message) = produce_txn(&mut conn, 9, Some(&id), &topic, partition, txn_batch(producer, 0, 2));
            assert_eq!(code, NONE, "round {round}: {message:?}");
        }
        let commit = rng.next().is_multiple_of(2);
        let request = EndTxnRequest::default()
            .with_transactional_id(txn_id(&id))
            .with_producer_id(ProducerId(producer.0))
            .with_producer_epoch(producer.1)
            .with_committed(commit);
        let (_, frame) = conn.encode_request(END_TXN_VERSION, &request);
        match rng.next() % 3 {
            // Before EndTxn: the transaction is Ongoing, and its timeout aborts it.
            0 => kills[0] += 1,
            // At once: the request may or may not have been read.
            1 => {
                conn.send_frame(&frame);
                kills[1] += 1;
            }
            // A moment later: preparing, writing markers, or complete.
            _ => {
                conn.send_frame(&frame);
                std::thread::sleep(Duration::from_millis(rng.next() % (KILL_DELAY_MAX_MS + 1)));
                kills[2] += 1;
            }
        }
        broker.kill();
        broker.restart();

        let mut conn = RawConn::connect(broker.bootstrap());
        let committed = final_outcome(&mut conn, &id);
        outcomes[usize::from(committed)] += 1;
        assert!(commit || !committed, "round {round} (seed {seed}): an abort was asked for, yet it committed");
        let marker = if committed { Stored::commit() } else { Stored::abort() };
        let expected = vec![Stored::data(2), marker];
        for partition in 0..PARTITIONS {
            let deadline = Instant::now() + SETTLE_MAX;
            loop {
                let seen = layout(&mut conn, &topic, partition);
                // A kill after a partition's marker and before the completion is recorded has the
                // restarted coordinator write every marker again, as Kafka's does after a
                // coordinator failover: that partition then holds the same marker twice.
                let rewritten = [Stored::data(2), marker, marker];
                if seen == expected || seen == rewritten {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round} (seed {seed}): {topic}-{partition} holds {seen:?}, expected {expected:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    println!(
        "transactions_kill: kills before/at/after EndTxn {kills:?}; {} committed, {} aborted, every one atomic",
        outcomes[1], outcomes[0]
    );
    broker.stop_ok();
}
