//! The produce handler in process, without a socket: appends take the non-blocking path or fall
//! back to the blocking one (a segment roll), and the request's frame is released as soon as the
//! appends are queued, before the writes are awaited.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use strata_testkit::batches::Batch;

use super::start;
use crate::config::BrokerConfig;
use crate::reply::{Outcome, RequestContext};
use crate::state::{Advertised, Broker, now_ms};
use crate::topics::NewTopic;

fn batch(records: usize) -> Bytes {
    (0..records).fold(Batch::new(), |batch, _| batch.record(None, Some(&[b'v'; 50]), 1)).encode()
}

/// A request whose topic name and record sets are slices of `frame`, as the decoder makes them.
fn request(frame: &Bytes, name_len: usize, set_len: usize, partitions: i32, acks: i16) -> ProduceRequest {
    let name = StrBytes::from_utf8(frame.slice(..name_len)).unwrap();
    let data = (0..partitions)
        .map(|index| {
            let at = name_len + index as usize * set_len;
            PartitionProduceData::default().with_index(index).with_records(Some(frame.slice(at..at + set_len)))
        })
        .collect();
    let topic = TopicProduceData::default().with_name(TopicName(name)).with_partition_data(data);
    ProduceRequest::default().with_acks(acks).with_timeout_ms(1000).with_topic_data(vec![topic])
}

fn context() -> RequestContext {
    RequestContext { api_key: ApiKey::Produce, api_version: 9, correlation_id: 7, client_id: "test".into(), peer: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frame_is_released_once_appended_and_a_roll_takes_the_blocking_path() {
    let dir = tempfile::tempdir().unwrap();
    let advertised = Advertised { host: "127.0.0.1".into(), port: 9092 };
    let broker =
        Arc::new(tokio::task::block_in_place(|| Broker::open(BrokerConfig::defaults(dir.path()), advertised)).unwrap());
    let set = batch(3);
    // One batch per segment: every produce after the first must roll, which only `append` does.
    let overrides = BTreeMap::from([("internal.segment.bytes".to_string(), set.len().to_string())]);
    let new = NewTopic { name: "t", partitions: 2, replication_factor: 1, overrides, internal: false };
    let topic =
        tokio::task::block_in_place(|| broker.topics.create(&broker.log, &broker.config, new, now_ms())).unwrap();

    for round in 0..3_i64 {
        let mut frame = BytesMut::from(&b"t"[..]);
        frame.extend_from_slice(&set);
        frame.extend_from_slice(&set);
        let frame = frame.freeze();
        let pending = start(&broker, context(), request(&frame, 1, set.len(), 2, 1));
        // Only this handle is left: neither the appends nor the waiting response keep a slice.
        assert!(frame.is_unique(), "round {round}: the produce still holds its request frame");
        let Outcome::Reply(_) = pending.await else { panic!("round {round}: acks=1 must answer") };
        for index in 0..2 {
            assert_eq!(
                topic.partition(index).unwrap().high_watermark(),
                3 * (round + 1),
                "round {round} partition {index}"
            );
        }
    }

    // acks=0 answers nothing and keeps nothing; bad acks answers without appending.
    let frame = Bytes::from([&b"t"[..], &set[..]].concat());
    assert!(matches!(start(&broker, context(), request(&frame, 1, set.len(), 1, 0)).await, Outcome::Silent));
    assert!(frame.is_unique());
    let refused = start(&broker, context(), request(&frame, 1, set.len(), 1, 2));
    assert!(frame.is_unique(), "a refused request keeps no slice either");
    assert!(matches!(refused.await, Outcome::Reply(_)));
    // Writes complete in submission order: once this one is answered, the acks=0 one is in too.
    assert!(matches!(start(&broker, context(), request(&frame, 1, set.len(), 1, 1)).await, Outcome::Reply(_)));
    assert_eq!(topic.partition(0).unwrap().high_watermark(), 15, "acks=0 appended, bad acks did not");
    tokio::task::block_in_place(|| broker.log.shutdown()).unwrap();
}
