//! Replaying `__transaction_state` rebuilds the coordinator; snapshots compact it; random
//! operation sequences keep the invariants and replay to the same state.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use strata_txn::records::{TxnLogValue, encode_key};
use strata_txn::*;

/// The durable state of both coordinators agrees: the same records, the same answers.
fn assert_same(live: &Coordinator, replayed: &Coordinator, ids: &[&str]) {
    assert_eq!(replayed.snapshot(), live.snapshot());
    assert_eq!(replayed.pending_markers(), live.pending_markers());
    for id in ids {
        assert_eq!(replayed.describe_transaction(id), live.describe_transaction(id));
    }
}

#[test]
fn replay_restores_every_state_and_resends_pending_markers() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0), tp("b", 3)]);
    h.end_with(5, pid, epoch, true);
    // "other" stays Ongoing, "gone" expires (a tombstone), "done" completes an abort.
    let other = h.init_with(5, "other", TIMEOUT_MS, -1, -1);
    let now = h.step();
    let add = AddPartitionsRequest {
        version: 3,
        transactional_id: "other".into(),
        producer_id: other.producer_id,
        producer_epoch: other.producer_epoch,
        partitions: vec![tp("c", 0)],
        transaction_version: TxnVersion::V1,
    };
    let effects = h.c.add_partitions(add, now).effects;
    h.take(effects);
    h.init_with(5, "gone", TIMEOUT_MS, -1, -1);

    let ids = [TXN, "other", "gone"];
    let replayed = Harness::replay(&h.log);
    assert_same(&h.c, &replayed, &ids);
    assert_eq!(replayed.describe_transaction(TXN).state, Some(TxnState::PrepareCommit));
    let pending = replayed.pending_markers();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].producer_epoch, pending[0].commit), (epoch + 1, true));
    assert_eq!(pending[0].partitions, vec![tp("a", 0), tp("b", 3)]);

    // The replayed coordinator carries on: the markers complete the commit.
    let mut replayed = replayed;
    let effects = replayed.markers_written(TXN, pid, epoch + 1, h.now + 1).unwrap();
    assert_eq!(replayed.describe_transaction(TXN).state, Some(TxnState::CompleteCommit));
    assert_eq!(effects.records.len(), 1);

    // Tombstones delete.
    let (mut log, expire_at) = (h.log.clone(), h.now + config().transactional_id_expiration_ms + 100_000);
    let mut live = Harness::replay(&log);
    log.extend(live.tick(expire_at).records);
    let after = Harness::replay(&log);
    assert_same(&live, &after, &ids);
    assert_eq!(after.describe_transaction("gone").error, Some(TxnError::TransactionalIdNotFound));

    // A snapshot replays to the same state, and its own snapshot is itself.
    let snapshot = h.c.snapshot();
    assert_eq!(snapshot.len(), 3);
    let from_snapshot = Harness::replay(&snapshot);
    assert_same(&h.c, &from_snapshot, &ids);
    assert_eq!(from_snapshot.snapshot(), snapshot);
}

#[test]
fn the_last_epoch_is_not_persisted_as_in_kafka() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    assert_eq!(h.init_with(5, TXN, TIMEOUT_MS, pid, epoch).producer_epoch, epoch + 1);
    // Live, a retry of that KIP-360 bump is recognised; after a restart it is fenced.
    let mut replayed = Harness::replay(&h.log);
    let retry = InitProducerIdRequest {
        version: 5,
        transactional_id: TXN.into(),
        transaction_timeout_ms: TIMEOUT_MS,
        producer_id: pid,
        producer_epoch: epoch,
    };
    assert_eq!(h.c.init_producer_id(retry.clone(), h.now + 1).reply.error, None);
    assert_eq!(replayed.init_producer_id(retry, h.now + 1).reply.error, Some(TxnError::ProducerFenced));
}

#[test]
fn bad_records_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0)]);
    let mut replayer = Coordinator::replayer(config(), Box::new(SequentialProducerIds::starting_at(5)));
    for record in &h.log {
        replayer.apply(&record.key, record.value.as_deref()).unwrap();
    }
    let good = TxnLogValue::decode(h.log.last().unwrap().value.as_deref().unwrap()).unwrap();
    let key = encode_key(TXN);
    let bad = |value: TxnLogValue| -> Bytes { value.encode() };
    for (value, why) in [
        (TxnLogValue { state: TxnState::Dead, ..good.clone() }, "Dead"),
        (TxnLogValue { state: TxnState::PrepareEpochFence, ..good.clone() }, "PrepareEpochFence"),
        (TxnLogValue { producer_epoch: -1, ..good.clone() }, "no epoch"),
        (TxnLogValue { partitions: vec![], ..good.clone() }, "Ongoing without partitions"),
        (TxnLogValue { next_producer_id: 9, client_transaction_version: 1, ..good.clone() }, "next id under TV1"),
    ] {
        assert!(replayer.apply(&key, Some(&bad(value))).is_err(), "{why}");
    }
    assert!(replayer.apply(&key, Some(&[0, 1, 0])).is_err());
    assert!(replayer.apply(&[0, 0, 0, 9], None).is_err());
    // A key of an unknown version is skipped, as Kafka does.
    replayer.apply(&[0, 7, 1, 2], Some(&[1, 2, 3])).unwrap();
    assert_eq!(replayer.counts(), (h.log.len() as u64 + 1, 1));
    let replayed = replayer.finish();
    assert_same(&h.c, &replayed, &[TXN]);
}

/// One step of a random run. Producers act on the id and epoch they were last given (or an
/// older one, as a zombie would).
#[derive(Debug, Clone)]
enum Op {
    Init {
        txn: usize,
        kip360: bool,
    },
    Add {
        txn: usize,
        stale: bool,
        partition: i32,
        tv2: bool,
    },
    AddOffsets {
        txn: usize,
        partition: i32,
    },
    Verify {
        txn: usize,
        partition: i32,
    },
    End {
        txn: usize,
        stale: bool,
        commit: bool,
        v5: bool,
    },
    Markers {
        pick: usize,
        stale: bool,
    },
    Tick {
        advance_ms: i64,
    },
    /// A producer that another InitProducerId replaced tries to carry on.
    Zombie {
        txn: usize,
        pick: usize,
        partition: i32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let txn = 0..3usize;
    prop_oneof![
        2 => (txn.clone(), any::<bool>()).prop_map(|(txn, kip360)| Op::Init { txn, kip360 }),
        4 => (txn.clone(), prop::bool::weighted(0.15), 0..4i32, any::<bool>())
            .prop_map(|(txn, stale, partition, tv2)| Op::Add { txn, stale, partition, tv2 }),
        1 => (txn.clone(), 0..50i32).prop_map(|(txn, partition)| Op::AddOffsets { txn, partition }),
        1 => (txn.clone(), 0..4i32).prop_map(|(txn, partition)| Op::Verify { txn, partition }),
        3 => (txn.clone(), prop::bool::weighted(0.15), any::<bool>(), any::<bool>())
            .prop_map(|(txn, stale, commit, v5)| Op::End { txn, stale, commit, v5 }),
        3 => (any::<usize>(), prop::bool::weighted(0.1)).prop_map(|(pick, stale)| Op::Markers { pick, stale }),
        1 => (0..40_000i64).prop_map(|advance_ms| Op::Tick { advance_ms }),
        1 => (txn.clone(), any::<usize>(), 0..4i32).prop_map(|(txn, pick, partition)| Op::Zombie { txn, pick, partition }),
    ]
}

const IDS: [&str; 3] = ["t0", "t1", "t2"];

struct Run {
    h: Harness,
    /// What each producer was last told: (producer id, epoch).
    producers: [(i64, i16); 3],
    /// The ids and epochs of producers that a later InitProducerId replaced: fenced for good.
    zombies: [Vec<(i64, i16)>; 3],
}

/// The producer id and epoch a producer sends: its own, or (a zombie) the epoch before.
fn as_sent((pid, epoch): (i64, i16), stale: bool) -> (i64, i16) {
    (pid, if stale { epoch - 1 } else { epoch })
}

impl Run {
    fn apply(&mut self, op: Op) {
        let now = self.h.step();
        let c = &mut self.h.c;
        match op {
            Op::Init { txn, kip360 } => {
                let (pid, epoch) = if kip360 && self.producers[txn].0 >= 0 { self.producers[txn] } else { (-1, -1) };
                let request = InitProducerIdRequest {
                    version: 5,
                    transactional_id: IDS[txn].into(),
                    transaction_timeout_ms: TIMEOUT_MS,
                    producer_id: pid,
                    producer_epoch: epoch,
                };
                let outcome = c.init_producer_id(request, now);
                if outcome.reply.error.is_none() {
                    assert_eq!(c.describe_transaction(IDS[txn]).state, Some(TxnState::Empty));
                    if self.producers[txn].0 >= 0 {
                        self.zombies[txn].push(self.producers[txn]);
                    }
                    self.producers[txn] = (outcome.reply.producer_id, outcome.reply.producer_epoch);
                }
                self.h.take(outcome.effects);
            }
            Op::Add { txn, stale, partition, tv2 } => {
                let (pid, epoch) = as_sent(self.producers[txn], stale);
                let request = AddPartitionsRequest {
                    version: if tv2 { 5 } else { 3 },
                    transactional_id: IDS[txn].into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    partitions: vec![tp("p", partition)],
                    transaction_version: if tv2 { TxnVersion::V2 } else { TxnVersion::V1 },
                };
                let outcome = c.add_partitions(request, now);
                if outcome.reply.is_none() {
                    let d = c.describe_transaction(IDS[txn]);
                    assert_eq!(d.state, Some(TxnState::Ongoing));
                    assert!(d.partitions.contains(&tp("p", partition)));
                }
                self.h.take(outcome.effects);
            }
            Op::AddOffsets { txn, partition } => {
                let (pid, epoch) = self.producers[txn];
                let request = AddOffsetsRequest {
                    version: 3,
                    transactional_id: IDS[txn].into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    offsets_partition: partition,
                };
                let outcome = c.add_offsets(request, now);
                self.h.take(outcome.effects);
            }
            Op::Verify { txn, partition } => {
                let (pid, epoch) = self.producers[txn];
                let request = VerifyPartitionsRequest {
                    transactional_id: IDS[txn].into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    partitions: vec![tp("p", partition)],
                };
                let verdict = c.verify_partitions(&request);
                let d = c.describe_transaction(IDS[txn]);
                let member = d.producer_id == pid
                    && d.producer_epoch == epoch
                    && !matches!(d.state, Some(TxnState::PrepareCommit | TxnState::PrepareAbort))
                    && d.partitions.contains(&tp("p", partition));
                assert_eq!(verdict[0].1.is_none(), member);
            }
            Op::End { txn, stale, commit, v5 } => {
                let (pid, epoch) = as_sent(self.producers[txn], stale);
                let before = c.describe_transaction(IDS[txn]).state;
                let request = EndTxnRequest {
                    version: if v5 { 5 } else { 4 },
                    transactional_id: IDS[txn].into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    commit,
                };
                let outcome = c.end_txn(request, now);
                if outcome.reply.error.is_none() {
                    let after = c.describe_transaction(IDS[txn]).state;
                    // An ongoing transaction prepares; otherwise a retry or an empty abort,
                    // which completes at once.
                    let expected = match (before, commit) {
                        (Some(TxnState::Ongoing), true) => TxnState::PrepareCommit,
                        (Some(TxnState::Ongoing), false) => TxnState::PrepareAbort,
                        (Some(_), true) => TxnState::CompleteCommit,
                        (Some(_), false) => TxnState::CompleteAbort,
                        (None, _) => panic!("EndTxn succeeded for an unknown id"),
                    };
                    assert_eq!(after, Some(expected));
                    if !stale {
                        self.producers[txn] = (outcome.reply.producer_id, outcome.reply.producer_epoch);
                    }
                    for markers in &outcome.effects.markers {
                        assert!(!markers.partitions.is_empty());
                        assert_eq!(markers.commit, commit);
                    }
                }
                self.h.take(outcome.effects);
            }
            Op::Markers { pick, stale } => {
                let pending = c.pending_markers();
                if let Some(markers) = pending.get(pick % pending.len().max(1)) {
                    let epoch = if stale { markers.producer_epoch.wrapping_sub(1) } else { markers.producer_epoch };
                    match c.markers_written(&markers.transactional_id, markers.producer_id, epoch, now) {
                        Ok(effects) => {
                            assert!(!stale);
                            let state = c.describe_transaction(&markers.transactional_id).state;
                            let expected =
                                if markers.commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
                            assert_eq!(state, Some(expected));
                            self.h.take(effects);
                        }
                        Err(error) => {
                            assert!(stale);
                            assert_eq!(error, TxnError::InvalidTxnState);
                        }
                    }
                }
            }
            Op::Zombie { txn, pick, partition } => {
                let Some(&(pid, epoch)) = self.zombies[txn].get(pick % self.zombies[txn].len().max(1)) else {
                    return;
                };
                let request = AddPartitionsRequest {
                    version: 5,
                    transactional_id: IDS[txn].into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    partitions: vec![tp("z", partition)],
                    transaction_version: TxnVersion::V2,
                };
                let outcome = c.add_partitions(request, now);
                assert!(outcome.reply.is_some() && outcome.effects.is_empty(), "a zombie added partitions");
                let verify = VerifyPartitionsRequest {
                    transactional_id: IDS[txn].into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    partitions: vec![tp("p", partition)],
                };
                assert!(c.verify_partitions(&verify)[0].1.is_some(), "a zombie's append was verified");
            }
            Op::Tick { advance_ms } => {
                let at = self.h.now + advance_ms;
                self.h.tick(at);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_invariants_and_replay_to_the_same_state(ops in prop::collection::vec(op(), 1..80)) {
        let mut run = Run { h: Harness::new(), producers: [(-1, -1); 3], zombies: Default::default() };
        for (i, op) in ops.into_iter().enumerate() {
            run.apply(op);
            // Every prefix of the log replays to the state it produced.
            if i % 8 == 0 {
                assert_same(&run.h.c, &Harness::replay(&run.h.log), &IDS);
            }
        }
        let replayed = Harness::replay(&run.h.log);
        assert_same(&run.h.c, &replayed, &IDS);
        let compacted = Harness::replay(&run.h.c.snapshot());
        assert_same(&run.h.c, &compacted, &IDS);
    }
}

#[test]
fn an_empty_abort_cut_short_by_a_crash_completes_after_replay() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    assert_eq!(h.end_with(5, pid, epoch, false).error, None);
    // The crash came between PrepareAbort and CompleteAbort.
    let cut = &h.log[..h.log.len() - 1];
    let mut replayed = Harness::replay(cut);
    assert_eq!(replayed.describe_transaction(TXN).state, Some(TxnState::PrepareAbort));
    let pending = replayed.pending_markers();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].partitions.is_empty(), "nothing to write; the broker reports it done at once");
    replayed.markers_written(TXN, pid, epoch + 1, h.now + 1).unwrap();
    assert_eq!(replayed.describe_transaction(TXN).state, Some(TxnState::CompleteAbort));
}
