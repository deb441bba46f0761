//! Every topic setting Kafka 4.1 defines can be given at creation, altered and described, as a
//! Kafka client expects (librdkafka's admin tests create topics with `delete.retention.ms` and
//! others), and values Kafka would refuse get INVALID_CONFIG with Kafka's message.

use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests;
use strata_tests::Broker;
use strata_tests::clients::{self, CLIENT_TIMEOUT};

/// Each setting Strata stores without acting on it yet, with a valid value other than its default.
const STORED_SETTINGS: &[(&str, &str)] = &[
    ("compression.gzip.level", "5"),
    ("compression.lz4.level", "10"),
    ("compression.zstd.level", "7"),
    ("segment.jitter.ms", "1000"),
    ("local.retention.ms", "-2"),
    ("local.retention.bytes", "-2"),
    ("delete.retention.ms", "3600000"),
    ("min.compaction.lag.ms", "1000"),
    ("max.compaction.lag.ms", "86400000"),
    ("min.cleanable.dirty.ratio", "0.25"),
    ("file.delete.delay.ms", "30000"),
    ("message.timestamp.before.max.ms", "86400000"),
    ("message.timestamp.after.max.ms", "7200000"),
    ("unclean.leader.election.enable", "true"),
    ("preallocate", "true"),
    ("leader.replication.throttled.replicas", "0:1"),
    ("follower.replication.throttled.replicas", "*"),
    ("remote.storage.enable", "false"),
    ("remote.log.copy.disable", "false"),
    ("remote.log.delete.on.disable", "false"),
];

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    clients::client_config(bootstrap).create().expect("AdminClient")
}

/// (name, value, source) of every entry DescribeConfigs gives for a topic.
fn describe(bootstrap: &str, topic: &str) -> Vec<(String, Option<String>, ConfigSource)> {
    let options = AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT));
    let results = clients::block_on(admin(bootstrap).describe_configs([&ResourceSpecifier::Topic(topic)], &options))
        .expect("DescribeConfigs request");
    let resource = results.into_iter().next().expect("one resource").expect("topic described");
    resource.entries.into_iter().map(|e| (e.name, e.value, e.source)).collect()
}

#[test]
fn every_kafka_topic_setting_is_accepted_stored_and_described() {
    let broker = Broker::start_default();
    clients::create_topic_with(broker.bootstrap(), "all-settings", 1, STORED_SETTINGS);
    let described = describe(broker.bootstrap(), "all-settings");
    for (name, value) in STORED_SETTINGS {
        let entry = described.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("{name} is not described"));
        assert_eq!(entry.1.as_deref(), Some(*value), "{name}");
        assert_eq!(entry.2, ConfigSource::DynamicTopic, "{name} comes from the topic");
    }

    // A topic without overrides describes each of them with Kafka's default.
    clients::create_topic(broker.bootstrap(), "defaults", 1);
    let described = describe(broker.bootstrap(), "defaults");
    for (name, default) in [
        ("delete.retention.ms", "86400000"),
        ("min.cleanable.dirty.ratio", "0.5"),
        ("message.timestamp.after.max.ms", "3600000"),
        ("compression.zstd.level", "3"),
        ("follower.replication.throttled.replicas", ""),
    ] {
        let entry = described.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("{name} is not described"));
        assert_eq!(entry.1.as_deref(), Some(default), "{name}");
        assert_eq!(entry.2, ConfigSource::Default, "{name}");
    }

    // The settings survive a restart with the rest of the topic's metadata.
    let mut broker = broker;
    broker.restart();
    let described = describe(broker.bootstrap(), "all-settings");
    let delete_retention = described.iter().find(|(n, _, _)| n == "delete.retention.ms").expect("described");
    assert_eq!(delete_retention.1.as_deref(), Some("3600000"));
}

fn create_with(conn: &mut RawConn, topic: &str, name: &str, value: &str) -> (i16, String) {
    let mut request = requests::create_topics_request(topic, 1);
    request.topics[0].configs = vec![
        CreatableTopicConfig::default().with_name(name.to_string().into()).with_value(Some(value.to_string().into())),
    ];
    let response = conn.request(7, &request);
    let result = &response.topics[0];
    assert!(result.error_code != NONE || result.error_message.is_none(), "{name}={value}: a success has no message");
    (result.error_code, result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
}

#[test]
fn values_kafka_refuses_get_invalid_config_with_kafkas_message() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    let cases = [
        ("segment.bytes", "1000", "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576"),
        ("segment.bytes", "big", "Invalid value big for configuration segment.bytes: Not a number of type INT"),
        (
            "compression.lz4.level",
            "18",
            "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17",
        ),
        (
            "min.cleanable.dirty.ratio",
            "1.5",
            "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1",
        ),
        (
            "delete.retention.ms",
            "-1",
            "Invalid value -1 for configuration delete.retention.ms: Value must be at least 0",
        ),
        (
            "preallocate",
            "maybe",
            "Invalid value maybe for configuration preallocate: Expected value to be either true or false",
        ),
        ("no.such.setting", "1", "Unknown topic config name: no.such.setting"),
        (
            "cleanup.policy",
            "delete,forever",
            "Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete",
        ),
        (
            "compression.type",
            "brotli",
            "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        (
            "compression.gzip.level",
            "0",
            "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1",
        ),
        (
            "leader.replication.throttled.replicas",
            "0-1",
            "Invalid value [0-1] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
        ),
    ];
    for (i, (name, value, message)) in cases.iter().enumerate() {
        let (code, got) = create_with(&mut conn, &format!("refused-{i}"), name, value);
        assert_eq!(code, INVALID_CONFIG, "{name}={value}: {got}");
        assert_eq!(got, *message, "{name}={value}");
    }
    // None of them made a topic.
    let metadata = requests::metadata(&mut conn, None, false);
    assert!(metadata.topics.iter().all(|t| !t.name.as_ref().is_some_and(|n| n.starts_with("refused-"))));
    // What Kafka 4.1 accepts: retention.bytes has no lower bound (any negative value means no
    // limit), an empty cleanup.policy, booleans in any case. A success carries no error message.
    for (i, (name, value)) in
        [("retention.bytes", "-5"), ("cleanup.policy", ""), ("preallocate", "TRUE")].iter().enumerate()
    {
        assert_eq!(
            create_with(&mut conn, &format!("accepted-{i}"), name, value),
            (NONE, String::new()),
            "{name}={value}"
        );
    }
}
