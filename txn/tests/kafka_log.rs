//! `__transaction_state` as Apache Kafka 4.1.2 wrote it, and the same transactions run through
//! this coordinator, byte for byte.
//!
//! The records come from a one-node reference Kafka 4.1.2 (`compat/reference-kafka.sh`): its
//! ProducerPerformance tool with `--transactional-id strata-fixture --transaction-duration-ms
//! 100` (a Java 4.1 producer, so transaction version 2) sent two transactions to partition 0 of
//! topic `out`; the keys and values were read out of `__transaction_state-0`'s segment.
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
    let config = TxnConfig { state_log_partitions: 1, ..TxnConfig::default() };
    let mut c = Coordinator::new(config.clone(), Box::new(SequentialProducerIds::starting_at(0)));
    let id = "strata-fixture";
    let mut log = Vec::new();
    let at = |i: usize| VALUES[i].0;

    let init = InitProducerIdRequest {
        version: 5,
        transactional_id: id.into(),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    };
    log.extend(c.init_producer_id(init, at(0)).effects.records);
    for (epoch, first) in [(0, 1), (1, 4)] {
        // The partition leader adds `out-0` for the TV2 producer, which then commits (EndTxn v5).
        let add = AddPartitionsRequest {
            version: 5,
            transactional_id: id.into(),
            producer_id: 0,
            producer_epoch: epoch,
            partitions: vec![out0()],
            transaction_version: TxnVersion::V2,
        };
        log.extend(c.add_partitions(add, at(first)).effects.records);
        let end = EndTxnRequest {
            version: 5,
            transactional_id: id.into(),
            producer_id: 0,
            producer_epoch: epoch,
            commit: true,
        };
        let outcome = c.end_txn(end, at(first + 1));
        assert_eq!((outcome.reply.producer_id, outcome.reply.producer_epoch), (0, epoch + 1));
        log.extend(outcome.effects.records);
        log.extend(c.markers_written(id, 0, epoch + 1, at(first + 2)).unwrap().records);
    }

    assert_eq!(log.len(), VALUES.len());
    for (record, (_, hex)) in log.iter().zip(VALUES) {
        assert_eq!(record.partition, 0);
        assert_eq!(record.key.as_ref(), unhex(KEY).as_slice());
        assert_eq!(record.value.as_deref(), Some(unhex(hex).as_slice()));
    }

    // Kafka's log replays here to the state this coordinator reached.
    let mut replayer = Coordinator::replayer(config, Box::new(SequentialProducerIds::starting_at(1)));
    for (_, hex) in VALUES {
        replayer.apply(&unhex(KEY), Some(&unhex(hex))).unwrap();
    }
    assert_eq!(replayer.finish().snapshot(), c.snapshot());
}
