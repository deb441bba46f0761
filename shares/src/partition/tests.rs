//! Unit tests of the share-partition window.

use super::*;

fn config() -> ShareConfig {
    ShareConfig {
        delivery_count_limit: 3,
        lock_duration_ms: 1000,
        max_in_flight: 10,
        retry_backoff: RetryBackoff::NONE,
        dead_letter: false,
    }
}

fn run(first: i64, last: i64, delivery_count: i16) -> Acquired {
    Acquired { first_offset: first, last_offset: last, delivery_count }
}

#[test]
fn records_go_to_one_member_at_a_time_and_accepted_ones_move_the_start() {
    let mut p = SharePartition::new(100, config());
    assert_eq!(p.acquire("a", 3, 0, 110, 0), [run(100, 102, 1)]);
    assert_eq!(p.acquire("b", 3, 0, 110, 0), [run(103, 105, 1)], "b gets the next records, not a's");
    assert_eq!(p.acquire("c", 10, 0, 106, 0), [], "nothing more is fetchable");
    p.acknowledge("b", 103, 105, &[AckType::Accept], 0).expect("b holds them");
    assert_eq!(p.start_offset(), 100, "a's records still lead the window");
    p.acknowledge("a", 100, 102, &[AckType::Accept], 0).expect("a holds them");
    assert_eq!((p.start_offset(), p.end_offset()), (106, 106));
}

#[test]
fn only_the_holder_may_acknowledge_and_a_refused_batch_changes_nothing() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 4, 0, 10, 0);
    let refused = p.acknowledge("b", 0, 1, &[AckType::Accept], 0);
    assert_eq!(refused, Err(ShareError::InvalidRecordState { first: 0, last: 1 }));
    // One offset of the batch beyond what a holds: the whole batch is refused.
    assert!(p.acknowledge("a", 2, 4, &[AckType::Accept], 0).is_err());
    assert!(matches!(p.record(2), Some((RecordState::Acquired { .. }, 1))));
    assert_eq!(
        p.acknowledge("a", 3, 2, &[AckType::Accept], 0),
        Err(ShareError::InvalidBatch { first: 3, last: 2, types: 1 })
    );
    assert!(p.acknowledge("a", 0, 2, &[AckType::Accept, AckType::Accept], 0).is_err(), "two types for three");
    p.acknowledge("a", 0, 3, &[AckType::Accept], 0).expect("a holds 0..=3");
    assert!(p.acknowledge("a", 0, 0, &[AckType::Accept], 0).is_err(), "acknowledged twice");
}

#[test]
fn released_records_are_delivered_again_until_the_limit_archives_them() {
    let mut p = SharePartition::new(0, config());
    for delivery in 1..=3 {
        assert_eq!(p.acquire("a", 2, 0, 2, 0), [run(0, 1, delivery)]);
        p.acknowledge("a", 0, 1, &[AckType::Release], 0).expect("release");
    }
    assert_eq!(p.start_offset(), 2, "archived after the third delivery");
    assert_eq!(p.acquire("a", 2, 0, 2, 0), []);
}

#[test]
fn per_offset_types_reject_and_gap_archive() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 4, 0, 4, 0);
    let types = [AckType::Accept, AckType::Gap, AckType::Release, AckType::Reject];
    p.acknowledge("a", 0, 3, &types, 0).expect("per offset");
    assert_eq!(p.start_offset(), 2);
    assert_eq!(p.record(2), Some((&RecordState::Available, 1)));
    assert_eq!(p.record(3), Some((&RecordState::Archived, 1)));
    assert_eq!(p.acquire("b", 10, 0, 4, 0), [run(2, 2, 2)], "the released record, delivered a second time");
}

#[test]
fn an_expired_lock_frees_the_record_and_its_holder_can_no_longer_acknowledge() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 2, 0, 2, 0);
    assert_eq!(p.next_lock_expiry(), Some(1000));
    assert_eq!(p.expire_locks(999), 0);
    let late = p.acknowledge("a", 0, 1, &[AckType::Accept], 1000);
    assert_eq!(late, Err(ShareError::InvalidRecordState { first: 0, last: 1 }), "the lock ended at 1000");
    assert_eq!(p.record(0), Some((&RecordState::Available, 1)));
    assert_eq!(p.acquire("b", 5, 0, 2, 2000), [run(0, 1, 2)]);
    assert_eq!(p.next_lock_expiry(), Some(3000));
}

#[test]
fn a_leaving_member_releases_what_it_holds() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 2, 0, 4, 0);
    p.acquire("b", 2, 0, 4, 0);
    assert_eq!(p.release_member("a", 0), 2);
    assert_eq!(p.acquire("c", 5, 0, 4, 0), [run(0, 1, 2)]);
}

#[test]
fn the_window_holds_at_most_max_in_flight_records() {
    let mut p = SharePartition::new(0, config());
    assert_eq!(p.acquire("a", 100, 0, 1000, 0), [run(0, 9, 1)]);
    assert_eq!(p.acquire("b", 100, 0, 1000, 0), [], "full until the start moves");
    p.acknowledge("a", 0, 4, &[AckType::Accept], 0).expect("accept");
    assert_eq!(p.acquire("b", 100, 0, 1000, 0), [run(10, 14, 1)]);
}

#[test]
fn a_fetch_reads_from_the_first_available_record_and_acquires_only_what_it_read() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 6, 0, 6, 0);
    p.acknowledge("a", 2, 3, &[AckType::Release], 0).expect("release");
    assert_eq!(p.next_fetch_offset(0), 2);
    assert_eq!(p.acquire("b", 10, 2, 3, 0), [run(2, 2, 2)], "the read ended at 3");
    assert_eq!(p.next_fetch_offset(0), 3);
    assert_eq!(p.acquire("b", 10, 3, 8, 0), [run(3, 3, 2), run(6, 7, 1)]);
    p.acknowledge("b", 2, 3, &[AckType::Release], 0).expect("release");
    assert_eq!(p.acquire("c", 10, 3, 8, 0), [run(3, 3, 3)], "the read began at 3: 2 stays available");
    assert_eq!(p.next_fetch_offset(0), 2);
}

#[test]
fn a_released_record_waits_out_its_retry_backoff_growing_with_each_delivery() {
    let backoff = RetryBackoff { initial_ms: 100, multiplier: 4, max_ms: 1000 };
    assert_eq!([1, 2, 3, 4].map(|n| backoff.after(n)), [100, 400, 1000, 1000]);
    assert_eq!(RetryBackoff::NONE.after(3), 0);
    let mut p = SharePartition::new(0, ShareConfig { delivery_count_limit: 5, retry_backoff: backoff, ..config() });
    p.acquire("a", 1, 0, 1, 0);
    p.acknowledge("a", 0, 0, &[AckType::Release], 50).expect("release");
    assert_eq!((p.next_fetch_offset(149), p.next_retry_at(149)), (1, Some(150)), "backing off until 150");
    assert_eq!(p.acquire("b", 1, 0, 1, 149), []);
    assert_eq!(p.acquire("b", 1, 0, 1, 150), [run(0, 0, 2)]);
    // Its lock expires at 1150: the second wait is 400 ms.
    assert_eq!(p.acquire("c", 1, 0, 1, 1150), [], "expired at 1150, back at 1550");
    assert_eq!(p.next_retry_at(1150), Some(1550));
    assert_eq!(p.acquire("c", 1, 0, 1, 1550), [run(0, 0, 3)]);
    assert_eq!(p.release_member("c", 1600), 1);
    assert_eq!(p.next_retry_at(1600), Some(2600), "capped at 1000 ms");
}

#[test]
fn a_snapshot_restores_what_was_done_and_delivers_the_rest_again() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 6, 0, 6, 0);
    p.acknowledge("a", 0, 0, &[AckType::Accept], 1).expect("accept");
    p.acknowledge("a", 2, 2, &[AckType::Reject], 1).expect("reject");
    p.acknowledge("a", 3, 3, &[AckType::Release], 1).expect("release");
    p.acquire("b", 1, 3, 6, 2);
    p.acknowledge("b", 3, 3, &[AckType::Release], 3).expect("release");
    p.acquire("c", 1, 3, 6, 4);
    p.acknowledge("c", 3, 3, &[AckType::Release], 5).expect("release: archived at the limit");
    let snapshot = p.snapshot();
    assert_eq!(snapshot.start_offset, 1);
    let state = |first, last, delivery_state, delivery_count| StateBatch {
        first_offset: first,
        last_offset: last,
        delivery_state,
        delivery_count,
    };
    use delivery_state::*;
    assert_eq!(
        snapshot.batches,
        [state(1, 1, AVAILABLE, 1), state(2, 2, ARCHIVED, 1), state(3, 3, ARCHIVED, 3), state(4, 5, AVAILABLE, 1)]
    );
    let mut back = SharePartition::restore(&snapshot, config());
    assert_eq!((back.start_offset(), back.end_offset()), (1, 6));
    assert_eq!(back.acquire("d", 10, 0, 10, 10), [run(1, 1, 2), run(4, 5, 2), run(6, 9, 1)]);
    assert_eq!(back.record(3), Some((&RecordState::Archived, 3)));
    // At the limit when written: archived on the way back.
    let limit = PartitionSnapshot { start_offset: 7, batches: vec![state(7, 7, AVAILABLE, 3), state(9, 9, 9, 1)] };
    let back = SharePartition::restore(&limit, config());
    assert_eq!((back.start_offset(), back.end_offset()), (8, 8), "archived, and the unknown state ignored");
}

#[test]
fn with_a_dead_letter_topic_rejected_and_exhausted_records_wait_until_written() {
    let config = ShareConfig { dead_letter: true, delivery_count_limit: 2, ..config() };
    let mut p = SharePartition::new(0, config);
    p.acquire("a", 3, 0, 3, 0);
    p.acknowledge("a", 0, 0, &[AckType::Reject], 1).expect("reject");
    p.acknowledge("a", 1, 2, &[AckType::Release], 1).expect("release");
    assert_eq!(p.acquire("a", 3, 0, 3, 2), [run(1, 2, 2)]);
    p.acknowledge("a", 1, 1, &[AckType::Release], 3).expect("past the limit");
    let letter = |offset, delivery_count, reason| DeadLetter { offset, delivery_count, reason };
    use DeadLetterReason::*;
    assert_eq!(p.take_dead_letters(), [letter(0, 1, Rejected), letter(1, 2, DeliveryLimit)]);
    assert_eq!(p.take_dead_letters(), [], "being written");
    assert_eq!(p.start_offset(), 0, "not done with until written");
    // Written to the state topic meanwhile: back as dead letters to write.
    let back = SharePartition::restore(&p.snapshot(), config);
    assert_eq!(back.snapshot().batches[0].delivery_state, delivery_state::ARCHIVING);
    p.dead_lettered(&[1], false);
    assert_eq!(p.take_dead_letters(), [letter(1, 2, DeliveryLimit)], "a failed write is tried again");
    p.dead_lettered(&[0, 1], true);
    assert_eq!((p.start_offset(), p.record(1)), (2, None), "archived and passed");
    assert_eq!(p.acquire("b", 3, 0, 3, 4), [], "2 is still held by a");
}

#[test]
fn a_record_is_not_delivered_before_it_is_due() {
    let mut p = SharePartition::new(0, config());
    let due = |offset: i64| (offset == 1).then_some(500);
    assert_eq!(p.acquire_due("a", 10, (0, 3), 100, due), [run(0, 0, 1), run(2, 2, 1)], "1 waits");
    assert_eq!(p.next_fetch_offset(100), 3);
    assert_eq!(p.next_retry_at(100), Some(500));
    assert_eq!(p.acquire_due("a", 10, (0, 3), 499, due), []);
    assert_eq!(p.acquire_due("b", 10, (0, 3), 500, due), [run(1, 1, 1)], "due: a first delivery");
    // Once delivered, a release is not held back by the due time again.
    p.acknowledge("b", 1, 1, &[AckType::Release], 501).expect("release");
    assert_eq!(p.acquire_due("b", 10, (0, 3), 501, |_| Some(10_000)), [run(1, 1, 2)]);
    // Restored from a snapshot (which keeps no due time), it is asked again.
    let mut fresh = SharePartition::new(0, config());
    fresh.acquire_due("a", 10, (0, 2), 0, |offset| (offset == 0).then_some(900));
    let mut back = SharePartition::restore(&fresh.snapshot(), config());
    let in_flight = back.acquire_due("c", 10, (0, 2), 100, |offset| (offset == 0).then_some(900));
    assert_eq!(in_flight, [run(1, 1, 2)], "0 still waits; 1 was in flight");
    assert_eq!(back.acquire_due("c", 10, (0, 2), 900, |offset| (offset == 0).then_some(900)), [run(0, 0, 1)]);
}

#[test]
fn a_log_start_past_the_window_drops_what_is_gone() {
    let mut p = SharePartition::new(0, config());
    p.acquire("a", 4, 0, 4, 0);
    p.move_start_to(2);
    assert_eq!((p.start_offset(), p.end_offset()), (2, 4));
    assert_eq!(p.record(1), None);
    p.move_start_to(50);
    assert_eq!((p.start_offset(), p.end_offset()), (50, 50));
    assert_eq!(p.acquire("a", 1, 0, 60, 0), [run(50, 50, 1)]);
}

/// One step of a random schedule.
#[derive(Debug, Clone)]
enum Step {
    Acquire { member: u8, max: usize, fetchable: i64 },
    Acknowledge { member: u8, first: i64, len: i64, ack: u8 },
    Leave { member: u8 },
    Tick { ms: i64 },
    LogStart { offset: i64 },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..3, 0usize..6, 0i64..40).prop_map(|(member, max, fetchable)| Step::Acquire { member, max, fetchable }),
        (0u8..3, 0i64..40, 0i64..4, 0u8..4).prop_map(|(member, first, len, ack)| Step::Acknowledge {
            member,
            first,
            len,
            ack
        }),
        (0u8..3).prop_map(|member| Step::Leave { member }),
        (0i64..800).prop_map(|ms| Step::Tick { ms }),
        (0i64..40).prop_map(|offset| Step::LogStart { offset }),
    ]
}

proptest::proptest! {
    /// Whatever members do, the window is exactly `[start, end)`, no wider than
    /// `max_in_flight`, starts at a record still in play, and no record is delivered more
    /// than the limit allows.
    #[test]
    fn the_window_stays_consistent(steps in proptest::collection::vec(step(), 1..80)) {
        // With a retry backoff: records wait between deliveries, and the window holds still.
        let config = ShareConfig { retry_backoff: RetryBackoff { initial_ms: 50, multiplier: 2, max_ms: 400 }, ..config() };
        let mut p = SharePartition::new(0, config);
        let mut now = 0;
        for step in steps {
            match step {
                Step::Acquire { member, max, fetchable } => {
                    let acquired = p.acquire(&member.to_string(), max, 0, fetchable, now);
                    let count: i64 = acquired.iter().map(|a| a.last_offset - a.first_offset + 1).sum();
                    proptest::prop_assert!(usize::try_from(count).unwrap_or(usize::MAX) <= max);
                }
                Step::Acknowledge { member, first, len, ack } => {
                    let ack = AckType::from_wire(i8::try_from(ack).unwrap_or(0)).unwrap_or(AckType::Accept);
                    p.expire_locks(now);
                    let before = p.clone().records;
                    if p.acknowledge(&member.to_string(), first, first + len, &[ack], now).is_err() {
                        proptest::prop_assert_eq!(&before, &p.records, "a refused batch changes nothing");
                    }
                }
                Step::Leave { member } => {
                    p.release_member(&member.to_string(), now);
                }
                Step::Tick { ms } => {
                    now += ms;
                    p.expire_locks(now);
                }
                Step::LogStart { offset } => p.move_start_to(offset),
            }
            let keys: Vec<i64> = p.records.keys().copied().collect();
            let expected: Vec<i64> = (p.start..p.end).collect();
            proptest::prop_assert_eq!(keys, expected);
            proptest::prop_assert!(p.records.len() <= config.max_in_flight);
            if let Some(first) = p.records.values().next() {
                proptest::prop_assert!(!matches!(first.state, RecordState::Acknowledged | RecordState::Archived));
            }
            for record in p.records.values() {
                proptest::prop_assert!(record.delivery_count <= config.delivery_count_limit);
            }
        }
    }
}

#[test]
fn records_never_admitted_are_archived_unread_and_the_start_moves_past_them() {
    use crate::Admission;
    let mut p = SharePartition::new(0, config());
    // 0-2 data, 3 a marker, 4-5 an aborted transaction, 6 data.
    let admit = |offset: i64| if (3..=5).contains(&offset) { Admission::Never } else { Admission::Now };
    assert_eq!(p.acquire_admitted("a", 10, (0, 7), 0, admit), [run(0, 2, 1), run(6, 6, 1)]);
    assert_eq!(p.record(4), Some((&RecordState::Archived, 0)));
    p.acknowledge("a", 0, 2, &[AckType::Accept], 1).expect("accept");
    assert_eq!(p.start_offset(), 6, "past the archived records");
    // A record waiting undelivered (due later) that turns out never admissible is archived too.
    let mut q = SharePartition::new(0, config());
    assert_eq!(q.acquire_admitted("a", 10, (0, 1), 0, |_| Admission::At(100)), []);
    assert_eq!(q.acquire_admitted("a", 10, (0, 1), 200, |_| Admission::Never), []);
    assert_eq!(q.start_offset(), 1);
}
