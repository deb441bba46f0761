//! Deterministic test messages and the checks that what came back is exactly what went in.
//!
//! Message `i` of a set goes to partition `i % partitions`, so the order within each partition is
//! known in advance. Values are partly repetitive (compressible) and vary in length; some keys and
//! header values are null, which are easy to get wrong in record encoding.

/// One message as produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMessage {
    pub index: usize,
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp_ms: Option<i64>,
}

/// One message as consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp_ms: Option<i64>,
}

/// `count` messages tagged `tag` spread round-robin over `partitions`.
pub fn generate(tag: &str, count: usize, partitions: i32) -> Vec<TestMessage> {
    let partitions_usize = usize::try_from(partitions).expect("partitions > 0");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ (tag.len() as u64);
    (0..count)
        .map(|index| {
            let partition = i32::try_from(index % partitions_usize).expect("small");
            let key = if index % 11 == 10 { None } else { Some(format!("{tag}-key-{index}").into_bytes()) };
            let mut value = format!("{tag}|{index:08}|").into_bytes();
            let len = 20 + (index * 37) % 260;
            while value.len() < len {
                // xorshift64: cheap deterministic noise over a 16-letter alphabet, so that codecs
                // compress the values but do not reduce them to nothing.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                value.push(b'a' + (state % 16) as u8);
            }
            let mut headers = vec![
                ("index".to_owned(), Some((index as u64).to_be_bytes().to_vec())),
                ("tag".to_owned(), Some(tag.as_bytes().to_vec())),
            ];
            if index % 7 == 3 {
                headers.push(("null-header".to_owned(), None));
            }
            TestMessage { index, partition, key, value, headers, timestamp_ms: None }
        })
        .collect()
}

/// Asserts that `consumed` (in consumption order) is exactly `expected`, in order within each
/// partition, and (when `offsets` is given, as `(partition, offset)` per message index) at the
/// offsets the producer was told.
pub fn assert_same(expected: &[TestMessage], consumed: &[Consumed], offsets: Option<&[(i32, i64)]>) {
    assert_eq!(consumed.len(), expected.len(), "number of messages consumed");
    let partitions = expected.iter().map(|m| m.partition).max().map_or(0, |p| p + 1);
    for partition in 0..partitions {
        let want: Vec<&TestMessage> = expected.iter().filter(|m| m.partition == partition).collect();
        let got: Vec<&Consumed> = consumed.iter().filter(|c| c.partition == partition).collect();
        assert_eq!(got.len(), want.len(), "messages in partition {partition}");
        for (position, (w, g)) in want.iter().zip(&got).enumerate() {
            let at = format!("partition {partition}, position {position}, message {} (offset {})", w.index, g.offset);
            assert_eq!(index_of(g), Some(w.index), "which message is at {at} (by its index header)");
            assert_eq!(g.key, w.key, "key at {at}");
            assert_eq!(g.value.as_deref(), Some(w.value.as_slice()), "value at {at}");
            assert_eq!(g.headers, w.headers, "headers at {at}");
            if let Some(ts) = w.timestamp_ms {
                assert_eq!(g.timestamp_ms, Some(ts), "timestamp at {at}");
            }
            if let Some(offsets) = offsets {
                assert_eq!((g.partition, g.offset), offsets[w.index], "offset the producer was told, at {at}");
            }
        }
        // Offsets within a partition strictly increase, starting where the partition starts.
        for pair in got.windows(2) {
            assert!(pair[0].offset < pair[1].offset, "offsets go backwards in partition {partition}");
        }
    }
}

/// The message index carried in a consumed message's `index` header.
pub fn index_of(c: &Consumed) -> Option<usize> {
    let (_, value) = c.headers.iter().find(|(name, _)| name == "index")?;
    let bytes: [u8; 8] = value.as_deref()?.try_into().ok()?;
    usize::try_from(u64::from_be_bytes(bytes)).ok()
}

/// Asserts that consumed messages (possibly fewer than produced, as acks=0 allows) are each exactly
/// one of the expected messages, with no duplicates and in produce order within each partition.
pub fn assert_subset_in_order(expected: &[TestMessage], consumed: &[Consumed]) {
    let mut last_per_partition = std::collections::HashMap::<i32, (usize, i64)>::new();
    for c in consumed {
        let index_header = c
            .headers
            .iter()
            .find(|(name, _)| name == "index")
            .and_then(|(_, v)| v.as_ref())
            .unwrap_or_else(|| panic!("consumed a message without an index header at offset {}", c.offset));
        let index = usize::try_from(u64::from_be_bytes(index_header.as_slice().try_into().expect("8 bytes")))
            .expect("index fits usize");
        let w = &expected[index];
        assert_eq!(c.partition, w.partition, "partition of message {index}");
        assert_eq!(c.key, w.key, "key of message {index}");
        assert_eq!(c.value.as_deref(), Some(w.value.as_slice()), "value of message {index}");
        assert_eq!(c.headers, w.headers, "headers of message {index}");
        if let Some(&(previous, previous_offset)) = last_per_partition.get(&c.partition) {
            assert!(
                previous < index,
                "partition {}: message {index} at offset {} after message {previous} at offset {previous_offset}",
                c.partition,
                c.offset
            );
        }
        last_per_partition.insert(c.partition, (index, c.offset));
    }
}

/// A compact picture of a partition's contents for failure messages: the message indexes read in
/// offset order, as runs `first..=last` of consecutive messages (`step` apart).
pub fn index_runs(consumed: &[Consumed], partition: i32, step: usize) -> String {
    let mut indexes: Vec<(i64, usize)> =
        consumed.iter().filter(|c| c.partition == partition).filter_map(|c| Some((c.offset, index_of(c)?))).collect();
    indexes.sort_unstable();
    let mut runs: Vec<String> = Vec::new();
    let mut run: Option<(i64, usize, usize)> = None; // (first offset, first index, last index)
    for (offset, index) in indexes {
        run = match run {
            Some((o, first, last)) if index == last + step => Some((o, first, index)),
            Some((o, first, last)) => {
                runs.push(format!("@{o}:{first}..={last}"));
                Some((offset, index, index))
            }
            None => Some((offset, index, index)),
        };
    }
    if let Some((o, first, last)) = run {
        runs.push(format!("@{o}:{first}..={last}"));
    }
    runs.join(" ")
}
