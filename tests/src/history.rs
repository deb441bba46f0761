//! A Jepsen-style history check for replication under faults: what a producer was told
//! (acknowledged at an offset, or failed), what a consumer read while the faults happened, and
//! the log read back at the end. It holds when no acknowledged message is lost or moved, no
//! message is in the log twice, each partition keeps the order messages were sent in, and every
//! read during the faults is what the final log holds at that offset (a high-watermark-bounded
//! consumer never sees a record that is later cut away).

use std::collections::{BTreeMap, HashMap};

use crate::clients::DeliveryOutcome;
use crate::data::{Consumed, TestMessage, index_of};

/// What the history amounted to, for the test's report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub acknowledged: usize,
    /// Of those, acknowledged without an offset (librdkafka's implicit acks) and found in the log.
    pub implicitly_acknowledged: usize,
    pub failed: usize,
    /// Failed (or never answered) by the producer, yet in the log: allowed (the write landed and
    /// its acknowledgement was lost), but counted.
    pub unacknowledged_in_log: usize,
    pub reads_checked: usize,
}

/// Checks the history; `Err` names the first violations found.
pub fn check(
    messages: &[TestMessage],
    outcomes: &HashMap<usize, DeliveryOutcome>,
    reads: &[Consumed],
    log: &[Consumed],
) -> Result<Summary, String> {
    let mut problems = Vec::new();
    let mut summary = Summary::default();
    // The final log, by position, and where each message is in it.
    let mut at: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut placed: HashMap<usize, (i32, i64)> = HashMap::new();
    for record in log {
        let Some(index) = index_of(record) else { continue }; // a probe, not part of the history
        let Some(sent) = messages.get(index) else {
            problems.push(format!("{}@{}: message {index} was never sent", record.partition, record.offset));
            continue;
        };
        if record.value.as_deref() != Some(sent.value.as_slice()) || record.partition != sent.partition {
            problems.push(format!("{}@{}: not what message {index} held", record.partition, record.offset));
        }
        if let Some(first) = placed.insert(index, (record.partition, record.offset)) {
            problems.push(format!(
                "message {index} is in the log twice: {first:?} and {}@{}",
                record.partition, record.offset
            ));
        }
        at.insert((record.partition, record.offset), index);
    }
    for (index, outcome) in outcomes {
        match outcome {
            Ok(acked) => {
                summary.acknowledged += 1;
                // librdkafka acknowledges without an offset (-1001) the messages of a batch
                // whose answer it lost once the broker acknowledges a later batch of the same
                // idempotent producer (an implicit ack): it must then be in its partition.
                let implicit = acked.1 < 0 && placed.get(index).is_some_and(|(p, _)| *p == acked.0);
                if implicit {
                    summary.implicitly_acknowledged += 1;
                } else if placed.get(index) != Some(acked) {
                    problems.push(format!("acknowledged message {index} at {acked:?} is at {:?}", placed.get(index)));
                }
            }
            Err(_) => summary.failed += 1,
        }
    }
    summary.unacknowledged_in_log = placed.keys().filter(|i| !matches!(outcomes.get(i), Some(Ok(_)))).count();
    // Order: within a partition, offsets follow the order the messages were sent in.
    let mut last: HashMap<i32, usize> = HashMap::new();
    for ((partition, offset), index) in &at {
        if let Some(previous) = last.insert(*partition, *index)
            && previous > *index
        {
            problems.push(format!("{partition}@{offset}: message {index} after message {previous}"));
        }
    }
    for read in reads {
        let Some(index) = index_of(read) else { continue };
        summary.reads_checked += 1;
        if at.get(&(read.partition, read.offset)) != Some(&index) {
            problems.push(format!(
                "read message {index} at {}@{}, which the final log holds as {:?}",
                read.partition,
                read.offset,
                at.get(&(read.partition, read.offset))
            ));
        }
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        let shown: Vec<&String> = problems.iter().take(20).collect();
        Err(format!("{} violations, first {}: {shown:#?}", problems.len(), shown.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate;

    fn consumed(message: &TestMessage, offset: i64) -> Consumed {
        Consumed {
            partition: message.partition,
            offset,
            key: message.key.clone(),
            value: Some(message.value.clone()),
            headers: message.headers.clone(),
            timestamp_ms: None,
        }
    }

    #[test]
    fn a_clean_history_passes_and_each_violation_is_caught() {
        let messages = generate("h", 4, 1);
        let log: Vec<Consumed> = messages.iter().zip(0..).map(|(m, o)| consumed(m, o)).collect();
        let outcomes: HashMap<usize, DeliveryOutcome> = (0..3).map(|i| (i, Ok((0, i as i64)))).collect();
        let summary = check(&messages, &outcomes, &log[..2], &log).expect("clean");
        assert_eq!(
            summary,
            Summary {
                acknowledged: 3,
                implicitly_acknowledged: 0,
                failed: 0,
                unacknowledged_in_log: 1,
                reads_checked: 2
            }
        );
        // An acknowledgement without an offset holds for a message in its partition, not for one
        // missing.
        let implicit: HashMap<usize, DeliveryOutcome> = [(0, Ok((0, -1001))), (1, Ok((0, 1)))].into();
        assert_eq!(check(&messages, &implicit, &[], &log).expect("implicit ack").implicitly_acknowledged, 1);
        let implicit_lost: HashMap<usize, DeliveryOutcome> = [(3, Ok((0, -1001)))].into();
        assert!(check(&messages, &implicit_lost, &[], &log[..3]).is_err(), "an implicitly acked message lost");

        let lost = &log[..2];
        assert!(check(&messages, &outcomes, &[], lost).expect_err("a violation").contains("acknowledged message 2"));
        let twice = [log.clone(), vec![consumed(&messages[1], 4)]].concat();
        assert!(check(&messages, &outcomes, &[], &twice).expect_err("a violation").contains("twice"));
        let swapped = vec![consumed(&messages[1], 0), consumed(&messages[0], 1)];
        let none = HashMap::new();
        assert!(check(&messages, &none, &[], &swapped).expect_err("a violation").contains("after message 1"));
        let truncated_read = [consumed(&messages[3], 2)];
        assert!(check(&messages, &none, &truncated_read, &log).expect_err("a violation").contains("read message 3"));
    }
}
