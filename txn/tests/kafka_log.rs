//! `__transaction_state` as Apache Kafka 4.1.2 wrote it, and the same transactions run through
//! this coordinator, byte for byte.
//!
//! The records come from a one-node reference Kafka 4.1.2 (`compat/reference-kafka.sh`, with
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms=500` for the second run), read
//! out of `__transaction_state-0`'s segment: first its ProducerPerformance tool with
//! `--transactional-id strata-fixture --transaction-duration-ms 100` (two committed
//! transactions), then a small program on kafka-clients 4.1.2 (aborts, a fence, a timeout; see
//! [`FENCE_AND_TIMEOUT`]). Both producers speak transaction version 2.
#![allow(clippy::unwrap_used)]

use strata_groups::TopicPartition;
use strata_txn::records::{TxnLogValue, decode_key};
use strata_txn::*;

const KEY: &str = "0000000e7374726174612d66697874757265";
/// (the timestamp passed to the call that wrote it, value)
const VALUES: [(i64, &str); 7] = [
    (1_796_277_714_729, "0001000000000000000000000000ea600000000001a23a7ebf29ffffffffffffffff00"),
    (
        1_796_277_714_991,
        "0001000000000000000000000000ea600102046f7574020000000000000001a23a7ec02f000001a23a7ec02f0102020002",
    ),
    (
        1_796_277_715_018,
        "0001000000000000000000010000ea600202046f7574020000000000000001a23a7ec04a000001a23a7ec02f0102020002",
    ),
    (1_796_277_715_020, "0001000000000000000000010000ea600401000001a23a7ec04c000001a23a7ec02f0102020002"),
    (
        1_796_277_715_073,
        "0001000000000000000000010000ea600102046f7574020000000000000001a23a7ec081000001a23a7ec0810102020002",
    ),
    (
        1_796_277_715_088,
        "0001000000000000000000020000ea600202046f7574020000000000000001a23a7ec090000001a23a7ec0810102020002",
    ),
    (1_796_277_715_089, "0001000000000000000000020000ea600401000001a23a7ec091000001a23a7ec0810102020002"),
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn out0() -> TopicPartition {
    TopicPartition { topic: "out".into(), partition: 0 }
}

#[test]
fn kafkas_records_decode_to_its_transactions() {
    assert_eq!(decode_key(&unhex(KEY)).unwrap().as_deref(), Some("strata-fixture"));
    let decoded: Vec<TxnLogValue> = VALUES.iter().map(|(_, v)| TxnLogValue::decode(&unhex(v)).unwrap()).collect();
    let states: Vec<_> = decoded.iter().map(|v| (v.state, v.producer_epoch)).collect();
    use TxnState::*;
    assert_eq!(
        states,
        [
            (Empty, 0),
            (Ongoing, 0),
            (PrepareCommit, 1),
            (CompleteCommit, 1),
            (Ongoing, 1),
            (PrepareCommit, 2),
            (CompleteCommit, 2)
        ]
    );
    for (value, (at, _)) in decoded.iter().zip(VALUES) {
        assert_eq!((value.producer_id, value.timeout_ms, value.last_update_ms), (0, 60_000, at));
        assert_eq!((value.previous_producer_id, value.next_producer_id), (-1, -1));
    }
    assert_eq!(decoded[1].partitions, vec![out0()]);
    assert_eq!(decoded[1].client_transaction_version, 2);
    assert_eq!(decoded[3].partitions, vec![]);
    assert_eq!((decoded[0].start_ms, decoded[3].start_ms), (-1, VALUES[1].0));
    // Each re-encodes to Kafka's exact bytes.
    for (value, (_, hex)) in decoded.iter().zip(VALUES) {
        assert_eq!(value.encode().as_ref(), unhex(hex).as_slice());
    }
}

#[test]
fn the_same_transactions_here_write_the_same_bytes() {
    let mut run = Run::new();
    let (id, at) = ("strata-fixture", |i: usize| VALUES[i].0);
    run.init(id, 60_000, at(0));
    for (epoch, first) in [(0, 1), (1, 4)] {
        // The partition leader adds `out-0` for the TV2 producer, which then commits (EndTxn v5).
        run.add(id, 0, epoch, at(first));
        assert_eq!(run.end(id, 0, epoch, true, at(first + 1)).producer_epoch, epoch + 1);
        run.markers_written(id, 0, epoch + 1, at(first + 2));
    }
    assert_eq!(run.log.len(), VALUES.len());
    for (record, (_, hex)) in run.log.iter().zip(VALUES) {
        assert_eq!(record.partition, 0);
        assert_eq!(record.key.as_ref(), unhex(KEY).as_slice());
        assert_eq!(record.value.as_deref(), Some(unhex(hex).as_slice()));
    }

    // Kafka's log replays here to the state this coordinator reached.
    let mut replayer = Coordinator::replayer(config(), Box::new(SequentialProducerIds::starting_at(1)));
    for (_, hex) in VALUES {
        replayer.apply(&unhex(KEY), Some(&unhex(hex))).unwrap();
    }
    assert_eq!(replayer.finish().snapshot(), run.c.snapshot());
}

/// Aborts, a fence and a timeout, from reference Kafka 4.1.2 and a Java 4.1 producer: "fx" aborts
/// a transaction, leaves a second one open and is fenced by a new producer with the same id,
/// which then commits; "fy" (`transaction.timeout.ms` 2000) leaves a transaction open until the
/// coordinator aborts it. (transactional id, timestamp of the call, value)
const FENCE_AND_TIMEOUT: [(&str, i64, &str); 15] = [
    ("fx", 1796277775683, "0001000000000000000000000000ea600000000001a23a7fad43ffffffffffffffff00"),
    (
        "fx",
        1796277775903,
        "0001000000000000000000000000ea600102046f7574020000000000000001a23a7fae1f000001a23a7fae1f0102020002",
    ),
    (
        "fx",
        1796277775954,
        "0001000000000000000000010000ea600302046f7574020000000000000001a23a7fae52000001a23a7fae1f0102020002",
    ),
    ("fx", 1796277775963, "0001000000000000000000010000ea600501000001a23a7fae5b000001a23a7fae1f0102020002"),
    (
        "fx",
        1796277776005,
        "0001000000000000000000010000ea600102046f7574020000000000000001a23a7fae85000001a23a7fae850102020002",
    ),
    (
        "fx",
        1796277776156,
        "0001000000000000000000020000ea600302046f7574020000000000000001a23a7faf1c000001a23a7fae850102020002",
    ),
    ("fx", 1796277776158, "0001000000000000000000020000ea600501000001a23a7faf1e000001a23a7fae850102020002"),
    ("fx", 1796277776263, "0001000000000000000000030000ea600000000001a23a7faf87ffffffffffffffff0102020002"),
    (
        "fx",
        1796277776280,
        "0001000000000000000000030000ea600102046f7574020000000000000001a23a7faf98000001a23a7faf980102020002",
    ),
    (
        "fx",
        1796277776285,
        "0001000000000000000000040000ea600202046f7574020000000000000001a23a7faf9d000001a23a7faf980102020002",
    ),
    ("fx", 1796277776285, "0001000000000000000000040000ea600401000001a23a7faf9d000001a23a7faf980102020002"),
    ("fy", 1796277776519, "000100000000000000010000000007d00000000001a23a7fb087ffffffffffffffff00"),
    (
        "fy",
        1796277776537,
        "000100000000000000010000000007d00102046f7574020000000000000001a23a7fb099000001a23a7fb0990102020002",
    ),
    (
        "fy",
        1796277778924,
        "000100000000000000010001000007d00302046f7574020000000000000001a23a7fb9ec000001a23a7fb0990102020002",
    ),
    ("fy", 1796277778931, "000100000000000000010001000007d00501000001a23a7fb9f3000001a23a7fb0990102020002"),
];

fn config() -> TxnConfig {
    TxnConfig { state_log_partitions: 1, ..TxnConfig::default() }
}

/// A coordinator with producer ids from 0, as the reference broker's, and the records it wrote.
struct Run {
    c: Coordinator,
    log: Vec<TxnRecord>,
}

impl Run {
    fn new() -> Self {
        Run { c: Coordinator::new(config(), Box::new(SequentialProducerIds::starting_at(0))), log: vec![] }
    }

    fn init(&mut self, id: &str, timeout_ms: i32, now_ms: i64) -> InitProducerIdReply {
        let request = InitProducerIdRequest {
            version: 5,
            transactional_id: id.into(),
            transaction_timeout_ms: timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
        };
        let outcome = self.c.init_producer_id(request, now_ms);
        self.log.extend(outcome.effects.records);
        outcome.reply
    }

    fn add(&mut self, id: &str, pid: i64, epoch: i16, now_ms: i64) {
        let request = AddPartitionsRequest {
            version: 5,
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: vec![out0()],
            transaction_version: TxnVersion::V2,
        };
        let outcome = self.c.add_partitions(request, now_ms);
        assert_eq!(outcome.reply, None);
        self.log.extend(outcome.effects.records);
    }

    fn end(&mut self, id: &str, pid: i64, epoch: i16, commit: bool, now_ms: i64) -> EndTxnReply {
        let request =
            EndTxnRequest { version: 5, transactional_id: id.into(), producer_id: pid, producer_epoch: epoch, commit };
        let outcome = self.c.end_txn(request, now_ms);
        self.log.extend(outcome.effects.records);
        outcome.reply
    }

    fn markers_written(&mut self, id: &str, pid: i64, epoch: i16, now_ms: i64) {
        self.log.extend(self.c.markers_written(id, pid, epoch, now_ms).unwrap().records);
    }
}

#[test]
fn aborts_fencing_and_timeouts_write_kafkas_bytes() {
    let mut run = Run::new();
    let at = |i: usize| FENCE_AND_TIMEOUT[i].1;
    assert_eq!(run.init("fx", 60_000, at(0)).producer_epoch, 0);
    run.add("fx", 0, 0, at(1));
    assert_eq!(run.end("fx", 0, 0, false, at(2)).producer_epoch, 1);
    run.markers_written("fx", 0, 1, at(3));
    run.add("fx", 0, 1, at(4));
    // A second producer with the same id: the open transaction is aborted under a fenced epoch.
    assert_eq!(run.init("fx", 60_000, at(5)).error, Some(TxnError::ConcurrentTransactions));
    run.markers_written("fx", 0, 2, at(6));
    assert_eq!(run.init("fx", 60_000, at(7)).producer_epoch, 3);
    run.add("fx", 0, 3, at(8));
    assert_eq!(run.end("fx", 0, 3, true, at(9)).producer_epoch, 4);
    run.markers_written("fx", 0, 4, at(10));
    // The zombie's commit.
    assert_eq!(run.end("fx", 0, 1, true, at(10)).error, Some(TxnError::ProducerFenced));

    assert_eq!(run.init("fy", 2_000, at(11)).producer_id, 1);
    run.add("fy", 1, 0, at(12));
    let effects = run.c.tick(at(13));
    run.log.extend(effects.records);
    run.markers_written("fy", 1, 1, at(14));

    assert_eq!(run.log.len(), FENCE_AND_TIMEOUT.len());
    for (record, (id, _, hex)) in run.log.iter().zip(FENCE_AND_TIMEOUT) {
        assert_eq!(decode_key(&record.key).unwrap().as_deref(), Some(id));
        assert_eq!(record.value.as_deref(), Some(unhex(hex).as_slice()));
    }
}
