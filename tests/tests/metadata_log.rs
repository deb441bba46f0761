//! The metadata log across crashes: every admin change a client was answered for (CreateTopics,
//! CreatePartitions, AlterConfigs, DeleteTopics) is there after a SIGKILL, with the same topic ids,
//! partition counts, leadership and settings, through Metadata and DescribeConfigs.

use std::collections::BTreeMap;

use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use strata_testkit::{RawConn, requests};
use strata_tests::Broker;
use strata_tests::clients::{self, CLIENT_TIMEOUT};

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    clients::client_config(bootstrap).create().expect("AdminClient")
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT))
}

/// Per topic: (topic id, [(partition, leader, leader epoch, replicas, isr)]), from Metadata.
type Described = BTreeMap<String, (String, Vec<(i32, i32, i32, Vec<i32>, Vec<i32>)>)>;

fn metadata(bootstrap: &str) -> Described {
    let mut conn = RawConn::connect(bootstrap);
    let response = requests::metadata(&mut conn, None, false);
    response
        .topics
        .into_iter()
        .filter(|t| !t.is_internal)
        .map(|t| {
            assert_eq!(t.error_code, 0, "{:?}", t.name);
            let mut partitions: Vec<_> = t
                .partitions
                .iter()
                .map(|p| {
                    let ids = |nodes: &[kafka_protocol::messages::BrokerId]| nodes.iter().map(|n| n.0).collect();
                    (p.partition_index, p.leader_id.0, p.leader_epoch, ids(&p.replica_nodes), ids(&p.isr_nodes))
                })
                .collect();
            partitions.sort();
            (t.name.expect("named").0.to_string(), (t.topic_id.to_string(), partitions))
        })
        .collect()
}

/// The settings that come from the topic itself (DescribeConfigs source DYNAMIC_TOPIC_CONFIG).
fn topic_settings(bootstrap: &str, topic: &str) -> BTreeMap<String, String> {
    let results = clients::block_on(admin(bootstrap).describe_configs([&ResourceSpecifier::Topic(topic)], &options()))
        .expect("DescribeConfigs request");
    let resource = results.into_iter().next().expect("one resource").expect("topic described");
    resource
        .entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn admin_changes_answered_before_a_sigkill_are_all_there_after_it() {
    let mut broker = Broker::start_default();
    let bootstrap = broker.bootstrap().to_string();
    clients::create_topic_with(&bootstrap, "kept", 2, &[("retention.ms", "60000")]);
    clients::create_topic(&bootstrap, "grown", 1);
    clients::create_topic(&bootstrap, "dropped", 3);
    let grown = NewPartitions::new("grown", 5);
    let created = clients::block_on(admin(&bootstrap).create_partitions([&grown], &options())).expect("request");
    assert!(created.iter().all(Result::is_ok), "CreatePartitions: {created:?}");
    let alter = AlterConfig::new(ResourceSpecifier::Topic("grown")).set("cleanup.policy", "compact");
    let altered = clients::block_on(admin(&bootstrap).alter_configs([&alter], &options())).expect("request");
    assert!(altered.iter().all(Result::is_ok), "AlterConfigs: {altered:?}");
    let deleted = clients::block_on(admin(&bootstrap).delete_topics(&["dropped"], &options())).expect("request");
    assert!(deleted.iter().all(Result::is_ok), "DeleteTopics: {deleted:?}");
    let before = metadata(&bootstrap);
    assert_eq!(before.keys().collect::<Vec<_>>(), ["grown", "kept"]);
    assert_eq!(before["grown"].1.len(), 5);

    broker.kill();
    broker.restart();
    let bootstrap = broker.bootstrap().to_string();
    assert_eq!(metadata(&bootstrap), before, "Metadata after SIGKILL");
    assert_eq!(topic_settings(&bootstrap, "kept"), settings(&[("retention.ms", "60000")]));
    assert_eq!(topic_settings(&bootstrap, "grown"), settings(&[("cleanup.policy", "compact")]));

    // Changes after the restart append to the replayed log, and survive the next crash too.
    clients::create_topic(&bootstrap, "dropped", 1);
    let alter = AlterConfig::new(ResourceSpecifier::Topic("kept")).set("segment.bytes", "1048576");
    let altered = clients::block_on(admin(&bootstrap).alter_configs([&alter], &options())).expect("request");
    assert!(altered.iter().all(Result::is_ok), "AlterConfigs: {altered:?}");
    let before = metadata(&bootstrap);
    assert_ne!(before["dropped"].0, "00000000-0000-0000-0000-000000000000");
    broker.kill();
    broker.restart();
    let bootstrap = broker.bootstrap().to_string();
    assert_eq!(metadata(&bootstrap), before, "Metadata after the second SIGKILL");
    // AlterConfigs replaces the whole set: retention.ms is gone, segment.bytes is there.
    assert_eq!(topic_settings(&bootstrap, "kept"), settings(&[("segment.bytes", "1048576")]));
}
