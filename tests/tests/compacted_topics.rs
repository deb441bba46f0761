//! A compacted topic needs a key on every record: Kafka's validator refuses a batch holding a
//! keyless record with INVALID_RECORD and names each such record by its index in the batch
//! (KIP-467 record errors), and nothing of the batch is written. librdkafka's own test suite
//! (0011_produce_batch) checks this against the broker.

use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::records::Compression;
use strata_testkit::RawConn;
use strata_testkit::batches::Batch;
use strata_testkit::codes::*;
use strata_testkit::requests::{self, LATEST_TIMESTAMP};
use strata_tests::Broker;

const INVALID_RECORD: i16 = 87;

fn create(conn: &mut RawConn, name: &str, policy: &str) {
    let mut request = requests::create_topics_request(name, 1);
    request.topics[0].configs = vec![
        CreatableTopicConfig::default()
            .with_name("cleanup.policy".to_string().into())
            .with_value(Some(policy.to_string().into())),
    ];
    let response = conn.request(7, &request);
    assert_eq!(response.topics[0].error_code, NONE, "create {name}");
}

/// Five records; those at `keyless` have a null key.
fn batch(keyless: &[usize], compression: Compression) -> bytes::Bytes {
    let batch = (0..5usize).fold(Batch::new(), |batch, i| {
        let key = format!("key-{i}");
        let key = (!keyless.contains(&i)).then_some(key.as_bytes());
        batch.record(key, Some(format!("value-{i}").as_bytes()), requests::epoch_ms() + i as i64)
    });
    batch.compression(compression).encode()
}

#[test]
fn a_keyless_record_in_a_compacted_topic_refuses_the_batch_and_names_the_record() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    create(&mut conn, "compacted", "compact");
    create(&mut conn, "both", "compact,delete");
    create(&mut conn, "deleted", "delete");

    for (topic, compression) in
        [("compacted", Compression::None), ("compacted", Compression::Gzip), ("both", Compression::Zstd)]
    {
        let answer = requests::produce(&mut conn, topic, 0, batch(&[1, 3], compression));
        assert_eq!(answer.error_code, INVALID_RECORD, "{topic} {compression:?}");
        let errors: Vec<(i32, String)> = answer
            .record_errors
            .iter()
            .map(|e| (e.batch_index, e.batch_index_error_message.as_ref().map(|m| m.to_string()).unwrap_or_default()))
            .collect();
        let message = format!("Compacted topic cannot accept message without key in topic partition {topic}-0");
        assert_eq!(errors, vec![(1, message.clone()), (3, message.clone())], "{topic} {compression:?}");
        assert_eq!(
            answer.error_message.as_ref().map(|m| m.to_string()),
            Some(format!(
                "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='{message}'), RecordError(batchIndex=3, message='{message}')]"
            ))
        );
        assert_eq!(
            requests::list_offset(&mut conn, topic, 0, LATEST_TIMESTAMP).offset,
            0,
            "nothing written to {topic}"
        );
    }

    // Keys on every record: accepted. A delete-only topic takes keyless records.
    assert_eq!(requests::produce(&mut conn, "compacted", 0, batch(&[], Compression::Lz4)).error_code, NONE);
    assert_eq!(requests::produce(&mut conn, "deleted", 0, batch(&[0, 1, 2, 3, 4], Compression::None)).error_code, NONE);

    // Switching a topic to compact applies to the next produce.
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name("deleted".to_string().into())
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name("cleanup.policy".to_string().into())
                    .with_config_operation(0)
                    .with_value(Some("compact".to_string().into())),
            ]),
    ]);
    let response = conn.request(1, &alter);
    assert_eq!(response.responses[0].error_code, NONE);
    assert_eq!(requests::produce(&mut conn, "deleted", 0, batch(&[4], Compression::Snappy)).error_code, INVALID_RECORD);
    assert_eq!(requests::list_offset(&mut conn, "deleted", 0, LATEST_TIMESTAMP).offset, 5);
}
