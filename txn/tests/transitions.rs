//! Every transition of the coordinator and every error it answers, with the records and markers
//! each one asks for.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use strata_txn::records::TxnLogValue;
use strata_txn::*;

fn last_value(h: &Harness) -> TxnLogValue {
    TxnLogValue::decode(h.log.last().unwrap().value.as_deref().unwrap()).unwrap()
}

#[test]
fn init_creates_then_bumps_the_epoch() {
    let mut h = Harness::new();
    assert_eq!(h.init(), (FIRST_PID, 0));
    assert_eq!(h.log.len(), 1);
    assert_eq!(h.log[0].partition, h.c.partition_for(TXN));
    assert_eq!(records::decode_key(&h.log[0].key).unwrap().as_deref(), Some(TXN));
    let value = last_value(&h);
    assert_eq!(
        (value.state, value.producer_id, value.producer_epoch, value.timeout_ms),
        (TxnState::Empty, FIRST_PID, 0, TIMEOUT_MS)
    );
    assert_eq!(value.start_ms, -1);
    // A second producer with the same transactional id fences the first by epoch.
    assert_eq!(h.init(), (FIRST_PID, 1));
    assert_eq!(h.add(FIRST_PID, 0, &[tp("t", 0)]), Some(TxnError::ProducerFenced));
    assert_eq!(h.add_with(1, FIRST_PID, 0, &[tp("t", 0)], TxnVersion::V1), Some(TxnError::InvalidProducerEpoch));
    assert_eq!(h.add(FIRST_PID, 1, &[tp("t", 0)]), None);
}

#[test]
fn init_rejects_bad_requests() {
    let mut h = Harness::new();
    let error = |r: InitProducerIdReply| (r.error, r.producer_id, r.producer_epoch);
    assert_eq!(error(h.init_with(5, "", TIMEOUT_MS, -1, -1)), (Some(TxnError::InvalidRequest), -1, -1));
    assert_eq!(h.init_with(5, TXN, 0, -1, -1).error, Some(TxnError::InvalidTransactionTimeout));
    assert_eq!(h.init_with(5, TXN, 300_001, -1, -1).error, Some(TxnError::InvalidTransactionTimeout));
    assert_eq!(h.init_with(5, TXN, 300_000, 7, -1).error, Some(TxnError::InvalidRequest));
    assert!(h.log.is_empty() && h.c.is_empty(), "failed requests leave nothing behind");
    assert_eq!(h.init_with(5, TXN, 300_000, -1, -1).error, None);
}

#[test]
fn init_fails_cleanly_without_producer_ids() {
    struct NoIds;
    impl ProducerIdSource for NoIds {
        fn next_producer_id(&mut self) -> Result<i64, TxnError> {
            Err(TxnError::CoordinatorNotAvailable)
        }
    }
    let mut c = Coordinator::new(config(), Box::new(NoIds));
    let request = InitProducerIdRequest {
        version: 5,
        transactional_id: TXN.into(),
        transaction_timeout_ms: TIMEOUT_MS,
        producer_id: -1,
        producer_epoch: -1,
    };
    let outcome = c.init_producer_id(request, 0);
    assert_eq!(outcome.reply.error, Some(TxnError::CoordinatorNotAvailable));
    assert!(outcome.effects.is_empty() && c.is_empty());
}

#[test]
fn kip_360_bump_retry_and_fencing() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    // A producer recovering from an error re-initialises with its id and epoch: bumped.
    let bump = h.init_with(5, TXN, TIMEOUT_MS, pid, epoch);
    assert_eq!((bump.error, bump.producer_id, bump.producer_epoch), (None, pid, 1));
    // Its retry (the response was lost) gets the same epoch again, without another bump.
    let retry = h.init_with(5, TXN, TIMEOUT_MS, pid, epoch);
    assert_eq!((retry.error, retry.producer_epoch), (None, 1));
    // Anyone else is a zombie: PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH before v4.
    assert_eq!(h.init_with(5, TXN, TIMEOUT_MS, pid, 7).error, Some(TxnError::ProducerFenced));
    assert_eq!(h.init_with(3, TXN, TIMEOUT_MS, pid, 7).error, Some(TxnError::InvalidProducerEpoch));
    assert_eq!(h.init_with(5, TXN, TIMEOUT_MS, pid + 55, 1).error, Some(TxnError::ProducerFenced));
    // A fresh InitProducerId forgets the last epoch: the old retry is now fenced.
    assert_eq!(h.init(), (pid, 2));
    assert_eq!(h.init_with(5, TXN, TIMEOUT_MS, pid, 0).error, Some(TxnError::ProducerFenced));
    // KIP-360 on an unknown transactional id: a new producer id.
    let fresh = h.init_with(5, "other", TIMEOUT_MS, 42, 3);
    assert_eq!((fresh.error, fresh.producer_id, fresh.producer_epoch), (None, FIRST_PID + 1, 0));
}

#[test]
fn exhausted_epoch_rotates_the_producer_id_at_init() {
    let mut h = Harness::new();
    let mut last = h.init();
    while last.1 < i16::MAX - 1 {
        last = h.init();
    }
    assert_eq!(last, (FIRST_PID, i16::MAX - 1));
    assert_eq!(h.init(), (FIRST_PID + 1, 0));
    let value = last_value(&h);
    assert_eq!(value.previous_producer_id, FIRST_PID);
}

#[test]
fn add_partitions_starts_and_extends_the_transaction() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    assert_eq!(h.add(pid, epoch, &[tp("b", 1), tp("a", 0)]), None);
    let start = h.now;
    let described = h.c.describe_transaction(TXN);
    assert_eq!(described.state, Some(TxnState::Ongoing));
    assert_eq!(described.start_ms, start);
    assert_eq!(described.partitions, vec![tp("a", 0), tp("b", 1)]);
    let records = h.log.len();
    // Partitions already in the transaction: answered without a write.
    assert_eq!(h.add(pid, epoch, &[tp("a", 0)]), None);
    assert_eq!(h.log.len(), records);
    assert_eq!(h.add(pid, epoch, &[tp("a", 0), tp("c", 2)]), None);
    assert_eq!(h.log.len(), records + 1);
    let value = last_value(&h);
    assert_eq!(value.partitions, vec![tp("a", 0), tp("b", 1), tp("c", 2)]);
    assert_eq!(value.start_ms, start, "the start time is the first add's");
}

#[test]
fn add_partitions_errors() {
    let mut h = Harness::new();
    assert_eq!(h.add(FIRST_PID, 0, &[tp("a", 0)]), Some(TxnError::InvalidProducerIdMapping));
    let (pid, epoch) = h.init();
    assert_eq!(h.add(pid + 1, epoch, &[tp("a", 0)]), Some(TxnError::InvalidProducerIdMapping));
    assert_eq!(h.add(pid, epoch + 1, &[tp("a", 0)]), Some(TxnError::ProducerFenced));
    let now = h.step();
    let empty_id = AddPartitionsRequest {
        version: 3,
        transactional_id: String::new(),
        producer_id: pid,
        producer_epoch: epoch,
        partitions: vec![tp("a", 0)],
        transaction_version: TxnVersion::V1,
    };
    assert_eq!(h.c.add_partitions(empty_id, now).reply, Some(TxnError::InvalidRequest));
    // While the previous transaction completes, the next cannot start.
    assert_eq!(h.add(pid, epoch, &[tp("a", 0)]), None);
    assert_eq!(h.end_with(3, pid, epoch, true).error, None);
    assert_eq!(h.add(pid, epoch, &[tp("b", 0)]), Some(TxnError::ConcurrentTransactions));
    assert_eq!(h.add_offsets(3, pid, epoch, 7), Some(TxnError::ConcurrentTransactions));
    h.write_markers();
    assert_eq!(h.add(pid, epoch, &[tp("b", 0)]), None);
    assert_eq!(h.c.describe_transaction(TXN).partitions, vec![tp("b", 0)]);
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    assert_eq!(h.add_offsets(3, pid, epoch, 17), None);
    assert_eq!(h.state(), Some(TxnState::Ongoing));
    assert_eq!(h.c.describe_transaction(TXN).partitions, vec![tp(OFFSETS_TOPIC, 17)]);
    assert_eq!(h.add_offsets(3, pid, epoch + 1, 17), Some(TxnError::ProducerFenced));
    assert_eq!(h.add_offsets(1, pid, epoch + 1, 17), Some(TxnError::InvalidProducerEpoch));
    let end = h.end_with(3, pid, epoch, true);
    assert_eq!(end.error, None);
    let markers = h.write_markers();
    assert_eq!(markers.partitions, vec![tp(OFFSETS_TOPIC, 17)]);
    assert!(markers.commit);
}

#[test]
fn end_txn_v1_commit_then_markers_complete_it() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0), tp("a", 1)]);
    let end = h.end_with(4, pid, epoch, true);
    assert_eq!((end.error, end.producer_id, end.producer_epoch), (None, pid, epoch));
    assert_eq!(h.state(), Some(TxnState::PrepareCommit));
    assert_eq!(last_value(&h).state, TxnState::PrepareCommit);
    let markers = h.markers.last().unwrap().clone();
    assert_eq!(markers.partitions, vec![tp("a", 0), tp("a", 1)]);
    assert_eq!((markers.producer_id, markers.producer_epoch, markers.commit), (pid, epoch, true));
    // While the markers are written every EndTxn waits (Kafka holds a pending completion),
    // even an abort of the committing transaction.
    assert_eq!(h.end_with(4, pid, epoch, true).error, Some(TxnError::ConcurrentTransactions));
    assert_eq!(h.end_with(4, pid, epoch, false).error, Some(TxnError::ConcurrentTransactions));
    assert_eq!(h.end_with(4, pid + 1, epoch, false).error, Some(TxnError::InvalidProducerIdMapping));
    h.write_markers();
    assert_eq!(h.state(), Some(TxnState::CompleteCommit));
    let value = last_value(&h);
    assert_eq!((value.state, value.partitions.len()), (TxnState::CompleteCommit, 0));
    // Retried after completion: the same answer. The opposite result: a wrong state.
    let retry = h.end_with(4, pid, epoch, true);
    assert_eq!((retry.error, retry.producer_id, retry.producer_epoch), (None, pid, epoch));
    assert_eq!(h.end_with(4, pid, epoch, false).error, Some(TxnError::InvalidTxnState));
    // Markers reported twice change nothing.
    assert_eq!(h.c.markers_written(TXN, pid, epoch, h.now), Err(TxnError::InvalidTxnState));
    assert_eq!(h.c.markers_written("nobody", pid, epoch, h.now), Err(TxnError::InvalidTxnState));
}

#[test]
fn end_txn_v1_abort() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0)]);
    assert_eq!(h.end_with(3, pid, epoch, false).error, None);
    assert_eq!(h.state(), Some(TxnState::PrepareAbort));
    assert_eq!(h.end_with(3, pid, epoch, false).error, Some(TxnError::ConcurrentTransactions));
    assert_eq!(h.end_with(3, pid, epoch, true).error, Some(TxnError::ConcurrentTransactions));
    let markers = h.write_markers();
    assert!(!markers.commit);
    assert_eq!(h.state(), Some(TxnState::CompleteAbort));
    assert_eq!(h.end_with(3, pid, epoch, false).error, None);
    assert_eq!(h.end_with(3, pid, epoch, true).error, Some(TxnError::InvalidTxnState));
}

#[test]
fn end_txn_errors() {
    let mut h = Harness::new();
    assert_eq!(h.end_with(4, FIRST_PID, 0, true).error, Some(TxnError::InvalidProducerIdMapping));
    let (pid, epoch) = h.init();
    // No transaction open (an abort without one is TV2's "empty abort", tested below).
    assert_eq!(h.end_with(4, pid, epoch, true).error, Some(TxnError::InvalidTxnState));
    assert_eq!(h.end_with(4, pid, epoch, false).error, Some(TxnError::InvalidTxnState));
    assert_eq!(h.end_with(5, pid, epoch, true).error, Some(TxnError::InvalidTxnState));
    h.add(pid, epoch, &[tp("a", 0)]);
    assert_eq!(h.end_with(4, pid + 1, epoch, true).error, Some(TxnError::InvalidProducerIdMapping));
    assert_eq!(h.end_with(4, pid, epoch + 3, true).error, Some(TxnError::ProducerFenced));
    assert_eq!(h.end_with(1, pid, epoch + 3, true).error, Some(TxnError::InvalidProducerEpoch));
    let now = h.step();
    let empty = EndTxnRequest {
        version: 4,
        transactional_id: String::new(),
        producer_id: pid,
        producer_epoch: epoch,
        commit: true,
    };
    assert_eq!(
        h.c.end_txn(empty, now).reply,
        EndTxnReply { error: Some(TxnError::InvalidRequest), producer_id: -1, producer_epoch: -1 }
    );
    assert_eq!(h.state(), Some(TxnState::Ongoing), "errors change nothing");
}

#[test]
fn end_txn_v2_bumps_the_epoch_every_transaction() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    // A TV2 producer's partitions are added by the partition leader (AddPartitionsToTxn v5).
    assert_eq!(h.add_with(5, pid, epoch, &[tp("a", 0)], TxnVersion::V2), None);
    assert_eq!(last_value(&h).client_transaction_version, 2);
    let end = h.end_with(5, pid, epoch, true);
    assert_eq!((end.error, end.producer_id, end.producer_epoch), (None, pid, epoch + 1));
    let markers = h.markers.last().unwrap().clone();
    assert_eq!((markers.producer_epoch, markers.transaction_version), (epoch + 1, TxnVersion::V2));
    // A retry carries the old epoch: it waits while preparing, and is answered after completion.
    // The producer's next EndTxn, with the bumped epoch, waits too rather than being fenced.
    assert_eq!(h.end_with(5, pid, epoch, true).error, Some(TxnError::ConcurrentTransactions));
    assert_eq!(h.end_with(5, pid, epoch + 1, false).error, Some(TxnError::ConcurrentTransactions));
    h.write_markers();
    let retry = h.end_with(5, pid, epoch, true);
    assert_eq!((retry.error, retry.producer_id, retry.producer_epoch), (None, pid, epoch + 1));
    // An older epoch is a zombie's.
    assert_eq!(h.end_with(5, pid, epoch - 1, true).error, Some(TxnError::ProducerFenced));
    // The next transaction runs under the bumped epoch; the old one is fenced out of it.
    assert_eq!(h.add_with(5, pid, epoch, &[tp("a", 0)], TxnVersion::V2), Some(TxnError::ProducerFenced));
    assert_eq!(h.add_with(5, pid, epoch + 1, &[tp("a", 0)], TxnVersion::V2), None);
    let end = h.end_with(5, pid, epoch + 1, false);
    assert_eq!((end.error, end.producer_epoch), (None, epoch + 2));
    h.write_markers();
    assert_eq!(h.state(), Some(TxnState::CompleteAbort));
}

#[test]
fn end_txn_v2_rotates_an_exhausted_producer_id() {
    let mut h = Harness::new();
    let mut last = h.init();
    while last.1 < i16::MAX - 1 {
        last = h.init();
    }
    let (pid, epoch) = last;
    h.add_with(5, pid, epoch, &[tp("a", 0)], TxnVersion::V2);
    let end = h.end_with(5, pid, epoch, true);
    assert_eq!((end.error, end.producer_id, end.producer_epoch), (None, FIRST_PID + 1, 0));
    let value = last_value(&h);
    assert_eq!((value.producer_id, value.next_producer_id, value.producer_epoch), (pid, FIRST_PID + 1, i16::MAX));
    // The markers still carry the old producer id.
    let markers = h.write_markers();
    assert_eq!((markers.producer_id, markers.producer_epoch), (pid, i16::MAX));
    let described = h.c.describe_transaction(TXN);
    assert_eq!((described.producer_id, described.producer_epoch), (FIRST_PID + 1, 0));
    let value = last_value(&h);
    assert_eq!((value.previous_producer_id, value.next_producer_id), (pid, -1));
    // The retry of that EndTxn, under the old id, is recognised.
    let retry = h.end_with(5, pid, epoch, true);
    assert_eq!((retry.error, retry.producer_id, retry.producer_epoch), (None, FIRST_PID + 1, 0));
}

#[test]
fn init_during_a_transaction_fences_and_aborts_it() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0)]);
    let fence = h.init_with(5, TXN, TIMEOUT_MS, -1, -1);
    assert_eq!(fence.error, Some(TxnError::ConcurrentTransactions));
    assert_eq!(h.state(), Some(TxnState::PrepareAbort));
    let markers = h.markers.last().unwrap().clone();
    assert_eq!(
        (markers.producer_epoch, markers.commit, markers.partitions.clone()),
        (epoch + 1, false, vec![tp("a", 0)])
    );
    // The zombie cannot add; its commit waits for the abort, then is fenced.
    assert_eq!(h.add(pid, epoch, &[tp("b", 0)]), Some(TxnError::ProducerFenced));
    assert_eq!(h.end_with(4, pid, epoch, true).error, Some(TxnError::ConcurrentTransactions));
    // The new producer retries until the abort completes, then gets the next epoch.
    assert_eq!(h.init_with(5, TXN, TIMEOUT_MS, -1, -1).error, Some(TxnError::ConcurrentTransactions));
    h.write_markers();
    assert_eq!(h.state(), Some(TxnState::CompleteAbort));
    assert_eq!(h.end_with(4, pid, epoch, true).error, Some(TxnError::ProducerFenced));
    assert_eq!(h.init(), (pid, epoch + 2));
}

#[test]
fn timed_out_transactions_are_aborted_by_tick() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0)]);
    let start = h.now;
    let deadline = start + i64::from(TIMEOUT_MS) + 1;
    assert_eq!(h.c.next_deadline_ms(), Some(deadline));
    let records = h.log.len();
    h.tick(deadline - 1);
    assert_eq!((h.state(), h.log.len()), (Some(TxnState::Ongoing), records));
    h.tick(deadline);
    assert_eq!(h.state(), Some(TxnState::PrepareAbort));
    assert_eq!(last_value(&h).producer_epoch, epoch + 1);
    let markers = h.markers.last().unwrap().clone();
    assert!(!markers.commit);
    h.write_markers();
    assert_eq!(h.state(), Some(TxnState::CompleteAbort));
    assert_eq!(h.end_with(4, pid, epoch, true).error, Some(TxnError::ProducerFenced));
}

#[test]
fn idle_transactional_ids_expire() {
    let mut h = Harness::new();
    h.init();
    let last_update = h.now;
    let expiry = last_update + config().transactional_id_expiration_ms;
    assert_eq!(h.c.next_deadline_ms(), Some(expiry));
    h.tick(expiry - 1);
    assert!(h.state().is_some());
    h.tick(expiry);
    assert_eq!(h.c.describe_transaction(TXN).error, Some(TxnError::TransactionalIdNotFound));
    let tombstone = h.log.last().unwrap();
    assert_eq!((tombstone.value.clone(), records::decode_key(&tombstone.key).unwrap().as_deref()), (None, Some(TXN)));
    assert_eq!(h.c.next_deadline_ms(), None);
}

#[test]
fn verify_only_checks_membership() {
    let mut h = Harness::new();
    assert_eq!(h.verify(FIRST_PID, 0, &[tp("a", 0)]), vec![Some(TxnError::InvalidProducerIdMapping)]);
    let (pid, epoch) = h.init();
    assert_eq!(h.verify(pid, epoch, &[tp("a", 0)]), vec![Some(TxnError::TransactionAbortable)]);
    h.add(pid, epoch, &[tp("a", 0)]);
    let records = h.log.len();
    assert_eq!(h.verify(pid, epoch, &[tp("a", 0), tp("a", 1)]), vec![None, Some(TxnError::TransactionAbortable)]);
    assert_eq!(h.verify(pid, epoch + 1, &[tp("a", 0)]), vec![Some(TxnError::ProducerFenced)]);
    assert_eq!(h.verify(pid + 1, epoch, &[tp("a", 0)]), vec![Some(TxnError::InvalidProducerIdMapping)]);
    assert_eq!(h.log.len(), records, "verification writes nothing");
    h.end_with(4, pid, epoch, true);
    assert_eq!(h.verify(pid, epoch, &[tp("a", 0)]), vec![Some(TxnError::ConcurrentTransactions)]);
}

#[test]
fn describe_and_list() {
    let mut h = Harness::new();
    assert_eq!(h.c.describe_transaction("").error, Some(TxnError::InvalidRequest));
    assert_eq!(h.c.describe_transaction(TXN).error, Some(TxnError::TransactionalIdNotFound));
    let (pid, epoch) = h.init();
    h.add(pid, epoch, &[tp("a", 0)]);
    let start = h.now;
    h.init_with(5, "idle", TIMEOUT_MS, -1, -1);
    let d = h.c.describe_transaction(TXN);
    assert_eq!(
        (d.error, d.state, d.producer_id, d.producer_epoch, d.timeout_ms, d.start_ms),
        (None, Some(TxnState::Ongoing), pid, epoch, TIMEOUT_MS, start)
    );

    let ids = |l: ListedTxns| l.transactions.into_iter().map(|t| t.transactional_id).collect::<Vec<_>>();
    let all = ListTransactionsFilter::default();
    assert_eq!(ids(h.c.list_transactions(&all, h.now)), ["idle", TXN]);
    let ongoing = ListTransactionsFilter { states: vec!["Ongoing".into(), "Bogus".into()], ..all.clone() };
    let listed = h.c.list_transactions(&ongoing, h.now);
    assert_eq!(listed.unknown_state_filters, ["Bogus"]);
    assert_eq!(
        listed.transactions,
        vec![ListedTxn { transactional_id: TXN.into(), producer_id: pid, state: TxnState::Ongoing }]
    );
    let by_pid = ListTransactionsFilter { producer_ids: vec![FIRST_PID + 1], ..all.clone() };
    assert_eq!(ids(h.c.list_transactions(&by_pid, h.now)), ["idle"]);
    // Duration: only transactions running longer than it (Empty ones have no start, so they count as old).
    let long = ListTransactionsFilter { states: vec!["Ongoing".into()], duration_ms: 1_000, ..all.clone() };
    assert!(h.c.list_transactions(&long, start + 1_000).transactions.is_empty());
    assert_eq!(ids(h.c.list_transactions(&long, start + 1_001)), [TXN]);
}

#[test]
fn end_txn_v2_empty_abort_bumps_and_completes_at_once() {
    let mut h = Harness::new();
    let (pid, epoch) = h.init();
    let records = h.log.len();
    let end = h.end_with(5, pid, epoch, false);
    assert_eq!((end.error, end.producer_id, end.producer_epoch), (None, pid, epoch + 1));
    // PrepareAbort and CompleteAbort, no markers: there is no partition to mark.
    let states: Vec<_> =
        h.log[records..].iter().map(|r| TxnLogValue::decode(r.value.as_deref().unwrap()).unwrap().state).collect();
    assert_eq!(states, [TxnState::PrepareAbort, TxnState::CompleteAbort]);
    assert!(h.markers.is_empty());
    assert_eq!(h.state(), Some(TxnState::CompleteAbort));
    // Its retry answers as before; a second empty abort with the new epoch bumps again.
    let retry = h.end_with(5, pid, epoch, false);
    assert_eq!((retry.error, retry.producer_epoch), (None, epoch + 1));
    assert_eq!(h.end_with(5, pid, epoch + 1, false).producer_epoch, epoch + 2);
}

#[test]
fn end_txn_v2_on_a_completed_transaction_follows_kafkas_table() {
    let mut h = Harness::new();
    let (pid, e0) = h.init();
    h.add_with(5, pid, e0, &[tp("a", 0)], TxnVersion::V2);
    h.end_with(5, pid, e0, true);
    h.write_markers();
    let e1 = e0 + 1;
    // CompleteCommit: commit retry NONE, commit current INVALID_TXN_STATE, abort retry
    // INVALID_TXN_STATE, abort current an empty abort.
    assert_eq!(h.end_with(5, pid, e0, true).error, None);
    assert_eq!(h.end_with(5, pid, e1, true).error, Some(TxnError::InvalidTxnState));
    assert_eq!(h.end_with(5, pid, e0, false).error, Some(TxnError::InvalidTxnState));
    assert_eq!(h.end_with(5, pid, e1, false).producer_epoch, e1 + 1);
    // CompleteAbort: abort retry NONE, commit retry and commit current INVALID_TXN_STATE.
    assert_eq!(h.end_with(5, pid, e1, false).error, None);
    assert_eq!(h.end_with(5, pid, e1, true).error, Some(TxnError::InvalidTxnState));
    assert_eq!(h.end_with(5, pid, e1 + 1, true).error, Some(TxnError::InvalidTxnState));
    // Empty: an abort retry is fenced.
    let (pid, e) = h.init();
    assert_eq!(h.end_with(5, pid, e - 1, false).error, Some(TxnError::ProducerFenced));
}
