//! In-process tests of the admin APIs (DeleteTopics, CreatePartitions, DescribeConfigs,
//! IncrementalAlterConfigs, AlterConfigs, DescribeCluster) and of Metadata and CreateTopics: a
//! broker started in this process on 127.0.0.1:0 with a temporary data directory, requests
//! encoded with `kafka-protocol` and sent over a real TCP socket, every error code checked, and
//! changes checked again after the broker is stopped and started on the same directory.

mod support;

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, ApiVersionsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
    MetadataRequest, MetadataResponse, TopicName, alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;
use strata_broker::config_defs::{BROKER_SETTINGS, TOPIC_SETTINGS};
use uuid::Uuid;

use strata_testkit::codes::{
    INVALID_CONFIG, INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR, INVALID_REQUEST,
    INVALID_TOPIC_EXCEPTION, MISMATCHED_ENDPOINT_TYPE, NONE, TOPIC_ALREADY_EXISTS, TOPIC_DELETION_DISABLED,
    UNKNOWN_TOPIC_ID, UNKNOWN_TOPIC_OR_PARTITION, UNSUPPORTED_ENDPOINT_TYPE,
};
use support::{Client, Node};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

impl Client {
    async fn create_topic(&mut self, name: &str, partitions: i32, configs: &[(&str, &str)]) -> CreatableTopicResult {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![creatable(name, partitions, configs)])
            .with_timeout_ms(5000);
        let mut response = self.call(7, &request).await;
        assert_eq!(response.topics.len(), 1);
        response.topics.remove(0)
    }

    /// Metadata v12 for `names`, without auto-creation.
    async fn metadata(&mut self, names: &[&str]) -> MetadataResponse {
        let topics = names.iter().map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n)))).collect();
        let request = MetadataRequest::default().with_topics(Some(topics)).with_allow_auto_topic_creation(false);
        self.call(12, &request).await
    }

    async fn topic_metadata(&mut self, name: &str) -> MetadataResponseTopic {
        let mut response = self.metadata(&[name]).await;
        assert_eq!(response.topics.len(), 1);
        response.topics.remove(0)
    }

    async fn describe(
        &mut self,
        version: i16,
        resources: Vec<DescribeConfigsResource>,
        synonyms: bool,
        docs: bool,
    ) -> Vec<DescribeConfigsResult> {
        let request = DescribeConfigsRequest::default()
            .with_resources(resources)
            .with_include_synonyms(synonyms)
            .with_include_documentation(docs);
        self.call(version, &request).await.results
    }

    /// Every setting of topic `name` (v4, no synonyms), by name.
    async fn topic_configs(&mut self, name: &str) -> BTreeMap<String, DescribeConfigsResourceResult> {
        let mut results = self.describe(4, vec![resource(TOPIC, name, None)], false, false).await;
        assert_eq!(results.len(), 1);
        let result = results.remove(0);
        assert_eq!(result.error_code, NONE, "{:?}", result.error_message);
        result.configs.into_iter().map(|c| (c.name.to_string(), c)).collect()
    }

    async fn create_partitions(&mut self, request: CreatePartitionsRequest) -> Vec<CreatePartitionsTopicResult> {
        self.call(3, &request).await.results
    }

    /// AlterConfigs v2; returns every resource's error code.
    async fn alter_legacy(
        &mut self,
        resources: Vec<alter_configs_request::AlterConfigsResource>,
        validate_only: bool,
    ) -> Vec<i16> {
        let request = AlterConfigsRequest::default().with_resources(resources).with_validate_only(validate_only);
        self.call(2, &request).await.responses.iter().map(|r| r.error_code).collect()
    }

    /// CreateTopics v5 for one topic.
    async fn create_one(&mut self, topic: CreatableTopic, validate_only: bool) -> CreatableTopicResult {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_validate_only(validate_only)
            .with_timeout_ms(5000);
        self.call(5, &request).await.topics.remove(0)
    }

    /// IncrementalAlterConfigs v1 for one resource; returns its error code.
    async fn alter(&mut self, kind: i8, name: &str, ops: &[(&str, i8, Option<&str>)], validate_only: bool) -> i16 {
        let request = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![alter_resource(kind, name, ops)])
            .with_validate_only(validate_only);
        let response = self.call(1, &request).await;
        assert_eq!(response.responses.len(), 1);
        let answer = &response.responses[0];
        assert_eq!(answer.resource_type, kind);
        assert_eq!(answer.resource_name.as_str(), name);
        assert_eq!(answer.error_message.is_some(), answer.error_code != NONE, "a message exactly on errors");
        answer.error_code
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn creatable(name: &str, partitions: i32, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(-1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string((*k).to_string()))
                        .with_value(Some(StrBytes::from_string((*v).to_string())))
                })
                .collect(),
        )
}

fn resource(kind: i8, name: &str, keys: Option<&[&str]>) -> DescribeConfigsResource {
    DescribeConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_configuration_keys(keys.map(|k| k.iter().map(|s| StrBytes::from_string((*s).to_string())).collect()))
}

fn alter_resource(kind: i8, name: &str, ops: &[(&str, i8, Option<&str>)]) -> AlterConfigsResource {
    AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_configs(
            ops.iter()
                .map(|(key, op, value)| {
                    AlterableConfig::default()
                        .with_name(StrBytes::from_string((*key).to_string()))
                        .with_config_operation(*op)
                        .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn value(configs: &BTreeMap<String, DescribeConfigsResourceResult>, name: &str) -> (String, i8) {
    let entry = configs.get(name).unwrap_or_else(|| panic!("{name} described"));
    (entry.value.as_ref().map(|v| v.to_string()).unwrap_or_default(), entry.config_source)
}

fn delete_by_names(names: &[&str]) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default().with_topic_names(names.iter().map(|n| topic_name(n)).collect()).with_timeout_ms(5000)
}

fn delete_states(states: Vec<(Option<&str>, Uuid)>) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default()
        .with_topics(
            states
                .into_iter()
                .map(|(name, id)| DeleteTopicState::default().with_name(name.map(topic_name)).with_topic_id(id))
                .collect(),
        )
        .with_timeout_ms(5000)
}

fn find<'a>(results: &'a [DeletableTopicResult], name: Option<&str>, id: Uuid) -> &'a DeletableTopicResult {
    results
        .iter()
        .find(|r| r.name.as_ref().map(|n| n.0.as_str()) == name && (id.is_nil() || r.topic_id == id))
        .unwrap_or_else(|| panic!("no result for {name:?} {id}: {results:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_advertises_the_admin_apis_with_kafka_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Kafka 4.1's ranges; with the legacy protocol (the default) CreateTopics and DeleteTopics
    // start at v0 (tests/tests/legacy_protocol.rs).
    let node = Node::start(dir.path(), &["strata.legacy.protocol.enable=false"]).await;
    let mut client = node.client().await;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("strata-tests"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let response = client.call(3, &request).await;
    let range = |key: ApiKey| {
        response.api_keys.iter().find(|k| k.api_key == key as i16).map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::DeleteTopics), Some((1, 6)));
    assert_eq!(range(ApiKey::CreatePartitions), Some((0, 3)));
    assert_eq!(range(ApiKey::DescribeConfigs), Some((1, 4)));
    assert_eq!(range(ApiKey::AlterConfigs), Some((0, 2)));
    assert_eq!(range(ApiKey::IncrementalAlterConfigs), Some((0, 1)));
    assert_eq!(range(ApiKey::DescribeCluster), Some((0, 2)));
    assert_eq!(range(ApiKey::CreateTopics), Some((2, 7)));
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster_reports_this_node_in_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    for version in 0..=2 {
        let response = client.call(version, &DescribeClusterRequest::default()).await;
        assert_eq!(response.error_code, NONE, "v{version}");
        assert_eq!(response.cluster_id.as_str(), node.broker.cluster_id);
        assert!(!response.cluster_id.is_empty());
        assert_eq!(response.controller_id, BrokerId(1));
        assert_eq!(response.brokers.len(), 1);
        let only = &response.brokers[0];
        assert_eq!(
            (only.broker_id, only.host.as_str(), only.port),
            (BrokerId(1), "127.0.0.1", i32::from(node.addr.port()))
        );
        assert_eq!(only.rack, None);
        assert_eq!(response.cluster_authorized_operations, i32::MIN, "not asked for");
        if version >= 1 {
            assert_eq!(response.endpoint_type, 1);
        }
        let asked = client
            .call(version, &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true))
            .await;
        assert_eq!(
            asked.cluster_authorized_operations, 8096,
            "CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, *_CONFIGS, IDEMPOTENT_WRITE"
        );
    }
    let controllers = client.call(1, &DescribeClusterRequest::default().with_endpoint_type(2)).await;
    assert_eq!(controllers.error_code, MISMATCHED_ENDPOINT_TYPE);
    assert!(controllers.brokers.is_empty());
    let unknown = client.call(2, &DescribeClusterRequest::default().with_endpoint_type(7)).await;
    assert_eq!(unknown.error_code, UNSUPPORTED_ENDPOINT_TYPE);
    let fenced = client.call(2, &DescribeClusterRequest::default().with_include_fenced_brokers(true)).await;
    assert_eq!((fenced.error_code, fenced.brokers.len()), (NONE, 1));
    assert!(!fenced.brokers[0].is_fenced);
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_topics_by_name_and_by_id_with_kafka_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;

    for version in 1..=5 {
        let name = format!("gone-v{version}");
        assert_eq!(client.create_topic(&name, 2, &[]).await.error_code, NONE);
        assert!(dir.path().join(format!("{name}-1")).exists(), "partition directory made");
        let response = client.call(version, &delete_by_names(&[&name, "never-was"])).await;
        assert_eq!(response.responses.len(), 2, "v{version}");
        assert_eq!(find(&response.responses, Some(&name), Uuid::nil()).error_code, NONE);
        assert_eq!(find(&response.responses, Some("never-was"), Uuid::nil()).error_code, UNKNOWN_TOPIC_OR_PARTITION);
        assert_eq!(client.topic_metadata(&name).await.error_code, UNKNOWN_TOPIC_OR_PARTITION);
        assert!(!dir.path().join(format!("{name}-0")).exists(), "partition directory removed");
    }

    // v6: by id, and by name with the id in the answer.
    let by_id = client.create_topic("by-id", 1, &[]).await.topic_id;
    let by_name = client.create_topic("by-name", 1, &[]).await.topic_id;
    let missing = Uuid::new_v4();
    let response =
        client.call(6, &delete_states(vec![(None, by_id), (Some("by-name"), Uuid::nil()), (None, missing)])).await;
    assert_eq!(response.responses.len(), 3);
    let deleted = find(&response.responses, Some("by-id"), by_id);
    assert_eq!(deleted.error_code, NONE);
    assert_eq!(find(&response.responses, Some("by-name"), by_name).error_code, NONE);
    let unknown = find(&response.responses, None, missing);
    assert_eq!(unknown.error_code, UNKNOWN_TOPIC_ID);
    assert_eq!(client.topic_metadata("by-id").await.error_code, UNKNOWN_TOPIC_OR_PARTITION);

    // Malformed entries: duplicates, both name and id, neither, and a name whose id is also given.
    let keep = client.create_topic("keep", 1, &[]).await.topic_id;
    let dup = client.create_topic("dup", 1, &[]).await.topic_id;
    let response = client
        .call(
            6,
            &delete_states(vec![
                (Some("dup"), Uuid::nil()),
                (Some("dup"), Uuid::nil()),
                (Some("keep"), keep),
                (None, Uuid::nil()),
                (Some("keep"), Uuid::nil()),
                (None, keep),
            ]),
        )
        .await;
    assert_eq!(response.responses.len(), 4, "{:?}", response.responses);
    assert!(response.responses.iter().all(|r| r.error_code == INVALID_REQUEST), "{:?}", response.responses);
    assert_eq!(response.responses.iter().filter(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == "dup")).count(), 1);
    assert_eq!(client.topic_metadata("dup").await.topic_id, dup, "a duplicated name is not deleted");
    assert_eq!(client.topic_metadata("keep").await.topic_id, keep, "a name given with its id is not deleted");

    // A deleted name can be made again, with a new id; deletions survive a restart.
    let again = client.create_topic("by-id", 3, &[]).await;
    assert_eq!(again.error_code, NONE);
    assert_ne!(again.topic_id, by_id);
    drop(client);
    node.stop().await;
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    let after = client.metadata(&["by-id", "by-name", "gone-v3", "keep"]).await;
    let codes: Vec<(String, i16)> = after
        .topics
        .iter()
        .map(|t| (t.name.clone().map(|n| n.0.to_string()).unwrap_or_default(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("by-id".into(), NONE),
            ("by-name".into(), UNKNOWN_TOPIC_OR_PARTITION),
            ("gone-v3".into(), UNKNOWN_TOPIC_OR_PARTITION),
            ("keep".into(), NONE)
        ]
    );
    assert_eq!(after.topics[0].topic_id, again.topic_id);
    assert_eq!(after.topics[0].partitions.len(), 3);
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_topics_disabled_answers_per_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &["delete.topic.enable=false"]).await;
    let mut client = node.client().await;
    let id = client.create_topic("stays", 1, &[]).await.topic_id;
    for (version, code) in
        [(1, INVALID_REQUEST), (2, INVALID_REQUEST), (3, TOPIC_DELETION_DISABLED), (5, TOPIC_DELETION_DISABLED)]
    {
        let response = client.call(version, &delete_by_names(&["stays"])).await;
        assert_eq!(response.responses.len(), 1);
        assert_eq!(response.responses[0].error_code, code, "v{version}");
    }
    let response = client.call(6, &delete_states(vec![(None, id)])).await;
    assert_eq!(response.responses[0].error_code, TOPIC_DELETION_DISABLED);
    assert_eq!(response.responses[0].topic_id, id);
    assert_eq!(client.topic_metadata("stays").await.error_code, NONE);
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_topics_are_neither_deleted_grown_nor_auto_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    // The group coordinator makes `__consumer_offsets` at start-up.
    let internal = node.broker.topics.get("__consumer_offsets").expect("the group coordinator made __consumer_offsets");
    assert!(internal.internal);
    let mut client = node.client().await;
    let offsets = client.topic_metadata("__consumer_offsets").await;
    assert!(offsets.is_internal);
    let partitions = offsets.partitions.len();
    assert!(partitions > 0);
    let response = client.call(4, &delete_by_names(&["__consumer_offsets"])).await;
    assert_eq!(response.responses[0].error_code, INVALID_REQUEST);
    let more = i32::try_from(partitions).expect("small") + 3;
    let grow = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default().with_name(topic_name("__consumer_offsets")).with_count(more),
    ]);
    assert_eq!(client.call(3, &grow).await.results[0].error_code, INVALID_REQUEST);
    let still = client.topic_metadata("__consumer_offsets").await;
    assert_eq!((still.error_code, still.partitions.len(), still.topic_id), (NONE, partitions, offsets.topic_id));

    // The transaction coordinator makes `__transaction_state` at start-up, as internal.
    let txn_state = client.topic_metadata("__transaction_state").await;
    assert!(txn_state.is_internal && !txn_state.partitions.is_empty());
    let response = client.call(4, &delete_by_names(&["__transaction_state"])).await;
    assert_eq!(response.responses[0].error_code, INVALID_REQUEST);

    // Metadata never makes an internal topic as a plain auto-created one.
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name("__share_group_state")))]))
        .with_allow_auto_topic_creation(true);
    let response = client.call(9, &request).await;
    assert_eq!(response.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(response.topics[0].is_internal);
    assert!(node.broker.topics.get("__share_group_state").is_none());
    drop(client);
    node.stop().await;
}

fn grow(name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default().with_name(topic_name(name)).with_count(count).with_assignments(assignments.map(
        |a| {
            a.into_iter()
                .map(|ids| {
                    CreatePartitionsAssignment::default().with_broker_ids(ids.into_iter().map(BrokerId).collect())
                })
                .collect()
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_partitions_grows_topics_and_refuses_what_kafka_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    let id = client.create_topic("grow", 1, &[("retention.ms", "3600000")]).await.topic_id;

    let mut count = 1;
    for version in 0..=3 {
        count += 1;
        let request =
            CreatePartitionsRequest::default().with_topics(vec![grow("grow", count, None)]).with_timeout_ms(5000);
        let response = client.call(version, &request).await;
        assert_eq!(response.results.len(), 1);
        assert_eq!((response.results[0].name.0.as_str(), response.results[0].error_code), ("grow", NONE), "v{version}");
        assert_eq!(response.results[0].error_message, None);
        assert_eq!(client.topic_metadata("grow").await.partitions.len(), usize::try_from(count).expect("small"));
    }
    assert_eq!(count, 5);
    let topic = node.broker.topics.get("grow").expect("exists");
    assert_eq!(
        topic.partition(4).expect("new partition").config().retention_ms,
        3_600_000,
        "new partitions get the topic's settings"
    );

    let same =
        client.create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow("grow", 5, None)])).await;
    assert_eq!(same[0].error_code, INVALID_PARTITIONS);
    assert!(same[0].error_message.as_ref().is_some_and(|m| m.contains("already has 5")), "{same:?}");
    let fewer =
        client.create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow("grow", 2, None)])).await;
    assert_eq!(fewer[0].error_code, INVALID_PARTITIONS);
    let unknown =
        client.create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow("nope", 2, None)])).await;
    assert_eq!(unknown[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let twice = client
        .create_partitions(
            CreatePartitionsRequest::default().with_topics(vec![grow("grow", 8, None), grow("grow", 9, None)]),
        )
        .await;
    assert_eq!(twice.len(), 1, "a duplicated topic is answered once");
    assert_eq!(twice[0].error_code, INVALID_REQUEST);
    let validate = client
        .create_partitions(
            CreatePartitionsRequest::default().with_topics(vec![grow("grow", 9, None)]).with_validate_only(true),
        )
        .await;
    assert_eq!(validate[0].error_code, NONE);
    let wrong_count = client
        .create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow("grow", 7, Some(vec![vec![1]]))]))
        .await;
    assert_eq!(wrong_count[0].error_code, INVALID_REPLICA_ASSIGNMENT);
    let other_broker = client
        .create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow("grow", 6, Some(vec![vec![2]]))]))
        .await;
    assert_eq!(other_broker[0].error_code, INVALID_REPLICA_ASSIGNMENT);
    let two_replicas = client
        .create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow(
            "grow",
            6,
            Some(vec![vec![1, 1]]),
        )]))
        .await;
    assert_eq!(two_replicas[0].error_code, INVALID_REPLICA_ASSIGNMENT);
    assert_eq!(client.topic_metadata("grow").await.partitions.len(), 5, "nothing above changed the topic");

    let assigned = client
        .create_partitions(CreatePartitionsRequest::default().with_topics(vec![grow(
            "grow",
            7,
            Some(vec![vec![1], vec![1]]),
        )]))
        .await;
    assert_eq!(assigned[0].error_code, NONE);
    drop(client);
    node.stop().await;

    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    let after = client.topic_metadata("grow").await;
    assert_eq!((after.partitions.len(), after.topic_id), (7, id), "partitions survive a restart");
    assert!(dir.path().join("grow-6").exists());
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_reports_values_sources_synonyms_and_docs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &["log.retention.bytes=1048576", "num.partitions=2"]).await;
    let mut client = node.client().await;
    assert_eq!(
        client
            .create_topic("cfg", 1, &[("retention.ms", "1000"), ("cleanup.policy", "compact,delete")])
            .await
            .error_code,
        NONE
    );

    let mut results = client.describe(4, vec![resource(TOPIC, "cfg", None)], true, true).await;
    let result = results.remove(0);
    assert_eq!((result.error_code, result.resource_type, result.resource_name.as_str()), (NONE, TOPIC, "cfg"));
    assert_eq!(result.configs.len(), TOPIC_SETTINGS.len());
    let configs: BTreeMap<String, DescribeConfigsResourceResult> =
        result.configs.into_iter().map(|c| (c.name.to_string(), c)).collect();
    let synonyms = |name: &str| -> Vec<(String, String, i8)> {
        configs[name]
            .synonyms
            .iter()
            .map(|s| (s.name.to_string(), s.value.as_ref().map(|v| v.to_string()).unwrap_or_default(), s.source))
            .collect()
    };
    let retention = &configs["retention.ms"];
    assert_eq!((retention.value.as_deref(), retention.config_source, retention.config_type), (Some("1000"), 1, 5));
    assert!(!retention.read_only && !retention.is_sensitive);
    assert!(retention.documentation.as_ref().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        synonyms("retention.ms"),
        vec![("retention.ms".into(), "1000".into(), 1), ("log.retention.ms".into(), "604800000".into(), 5)]
    );
    assert_eq!(value(&configs, "retention.bytes"), ("1048576".into(), 4), "from the broker's static config");
    assert_eq!(
        synonyms("retention.bytes"),
        vec![("log.retention.bytes".into(), "1048576".into(), 4), ("log.retention.bytes".into(), "-1".into(), 5)]
    );
    assert_eq!(value(&configs, "segment.bytes"), ("1073741824".into(), 5));
    assert_eq!(value(&configs, "cleanup.policy"), ("compact,delete".into(), 1));
    assert_eq!(configs["cleanup.policy"].config_type, 7, "LIST");
    assert_eq!(configs["segment.bytes"].config_type, 3, "INT");
    assert_eq!(configs["message.timestamp.type"].config_type, 2, "STRING");

    // Without synonyms and documentation; the keys filter; version 1.
    let plain = client.topic_configs("cfg").await;
    assert!(plain.values().all(|c| c.synonyms.is_empty() && c.documentation.is_none()));
    let filtered =
        client.describe(3, vec![resource(TOPIC, "cfg", Some(&["retention.ms", "no.such.key"]))], false, false).await;
    assert_eq!(filtered[0].configs.len(), 1);
    assert_eq!(filtered[0].configs[0].name.as_str(), "retention.ms");
    let v1 = client.describe(1, vec![resource(TOPIC, "cfg", Some(&["retention.bytes"]))], true, false).await;
    assert_eq!(v1[0].configs[0].value.as_deref(), Some("1048576"));
    assert_eq!((v1[0].configs[0].config_source, v1[0].configs[0].synonyms.len()), (4, 2));

    // Errors per resource, and a broker resource by node id.
    let results = client
        .describe(
            4,
            vec![
                resource(TOPIC, "nope", None),
                resource(TOPIC, "bad name", None),
                resource(BROKER, "1", None),
                resource(BROKER, "", None),
            ],
            true,
            false,
        )
        .await;
    assert_eq!((results[0].error_code, &results[0].error_message), (UNKNOWN_TOPIC_OR_PARTITION, &None));
    assert!(results[0].configs.is_empty());
    assert_eq!(results[1].error_code, INVALID_TOPIC_EXCEPTION);
    let broker = &results[2];
    assert_eq!((broker.error_code, broker.resource_type, broker.resource_name.as_str()), (NONE, BROKER, "1"));
    assert_eq!(broker.configs.len(), BROKER_SETTINGS.len());
    assert!(broker.configs.iter().all(|c| c.read_only), "static broker settings are read-only");
    let setting =
        |name: &str| broker.configs.iter().find(|c| c.name.as_str() == name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!((setting("num.partitions").value.as_deref(), setting("num.partitions").config_source), (Some("2"), 4));
    assert_eq!(setting("num.partitions").synonyms.len(), 2);
    assert_eq!(
        (setting("log.segment.bytes").value.as_deref(), setting("log.segment.bytes").config_source),
        (Some("1073741824"), 5)
    );
    assert_eq!(setting("auto.create.topics.enable").config_type, 1, "BOOLEAN");
    assert_eq!((results[3].error_code, results[3].configs.len()), (NONE, 0), "no dynamic cluster defaults");

    let wrong_broker =
        client.describe(4, vec![resource(BROKER, "2", None), resource(BROKER, "one", None)], false, false).await;
    assert_eq!((wrong_broker[0].error_code, wrong_broker[1].error_code), (INVALID_REQUEST, INVALID_REQUEST));
    let metrics = client
        .describe(4, vec![resource(16, "m", None), resource(TOPIC, "cfg", Some(&["retention.ms"]))], false, false)
        .await;
    assert_eq!(
        (metrics[0].error_code, metrics[1].error_code),
        (INVALID_REQUEST, NONE),
        "an unsupported type fails alone"
    );
    let group = client.describe(4, vec![resource(32, "g", None)], false, false).await;
    assert_eq!(group[0].error_code, NONE, "a group's settings, though it does not exist");
    assert!(group[0].configs.iter().any(|c| c.name.as_str() == "share.auto.offset.reset"));
    let unknown_type =
        client.describe(4, vec![resource(99, "x", None), resource(TOPIC, "cfg", None)], false, false).await;
    assert_eq!(unknown_type.len(), 2);
    assert!(
        unknown_type.iter().all(|r| r.error_code == INVALID_REQUEST && r.configs.is_empty()),
        "an unknown type fails the request"
    );
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_alter_configs_changes_topics_and_refuses_static_broker_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    assert_eq!(client.create_topic("alt", 2, &[]).await.error_code, NONE);
    let log_config =
        |node: &Node| node.broker.topics.get("alt").expect("alt").partition(1).expect("partition").config();

    let ops = [
        ("retention.ms", SET, Some("5000")),
        ("cleanup.policy", APPEND, Some("compact")),
        ("max.message.bytes", SET, Some("2000")),
    ];
    assert_eq!(client.alter(TOPIC, "alt", &ops, false).await, NONE);
    let configs = client.topic_configs("alt").await;
    assert_eq!(value(&configs, "retention.ms"), ("5000".into(), 1));
    assert_eq!(value(&configs, "cleanup.policy"), ("delete,compact".into(), 1));
    assert_eq!(
        (log_config(&node).retention_ms, log_config(&node).max_message_bytes),
        (5000, 2000),
        "applied to the logs"
    );

    assert_eq!(client.alter(TOPIC, "alt", &[("cleanup.policy", SUBTRACT, Some("delete"))], false).await, NONE);
    assert_eq!(value(&client.topic_configs("alt").await, "cleanup.policy"), ("compact".into(), 1));
    assert_eq!(client.alter(TOPIC, "alt", &[("max.message.bytes", DELETE, None)], false).await, NONE);
    assert_eq!(value(&client.topic_configs("alt").await, "max.message.bytes"), ("1048588".into(), 5));
    assert_eq!(log_config(&node).max_message_bytes, 1_048_588);

    // Refusals leave the topic as it was.
    let unchanged = |configs: &BTreeMap<String, DescribeConfigsResourceResult>| {
        assert_eq!(value(configs, "retention.ms"), ("5000".into(), 1));
        assert_eq!(value(configs, "segment.ms"), ("604800000".into(), 5));
    };
    assert_eq!(client.alter(TOPIC, "alt", &[("segment.ms", SET, Some("1000"))], true).await, NONE, "validate_only");
    for (ops, code) in [
        (vec![("retention.ms", SET, Some("7")), ("no.such.setting", SET, Some("1"))], INVALID_CONFIG),
        (vec![("retention.ms", SET, Some("soon"))], INVALID_CONFIG),
        (vec![("segment.ms", SET, Some("0"))], INVALID_CONFIG),
        (vec![("retention.ms", APPEND, Some("5"))], INVALID_CONFIG),
        (vec![("cleanup.policy", SET, Some("forever"))], INVALID_CONFIG),
        (vec![("retention.ms", SET, Some("7")), ("retention.ms", SET, Some("8"))], INVALID_REQUEST),
        (vec![("retention.ms", SET, None)], INVALID_REQUEST),
        (vec![("retention.ms", 9, Some("7"))], INVALID_REQUEST),
    ] {
        assert_eq!(client.alter(TOPIC, "alt", &ops, false).await, code, "{ops:?}");
    }
    unchanged(&client.topic_configs("alt").await);
    // The policy is `compact` now (delete was subtracted above): retention deletes nothing.
    assert_eq!(log_config(&node).retention_ms, -1);

    assert_eq!(
        client.alter(TOPIC, "nope", &[("retention.ms", SET, Some("1"))], false).await,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        client.alter(TOPIC, "nope", &[("bogus", SET, Some("1"))], false).await,
        INVALID_CONFIG,
        "configs are checked first"
    );
    assert_eq!(client.alter(TOPIC, "", &[("retention.ms", SET, Some("1"))], false).await, INVALID_REQUEST);
    assert_eq!(
        client.alter(TOPIC, "bad name", &[("retention.ms", SET, Some("1"))], false).await,
        INVALID_TOPIC_EXCEPTION
    );
    assert_eq!(client.alter(8, "1", &[("root", SET, Some("DEBUG"))], false).await, INVALID_REQUEST);

    // Broker settings are static.
    assert_eq!(client.alter(BROKER, "1", &[("num.partitions", SET, Some("3"))], false).await, INVALID_REQUEST);
    assert_eq!(client.alter(BROKER, "", &[("log.retention.ms", SET, Some("3"))], true).await, INVALID_REQUEST);
    assert_eq!(client.alter(BROKER, "1", &[("no.such.setting", SET, Some("3"))], false).await, INVALID_CONFIG);
    assert_eq!(client.alter(BROKER, "1", &[("num.partitions", APPEND, Some("3"))], false).await, INVALID_CONFIG);
    assert_eq!(client.alter(BROKER, "2", &[("num.partitions", SET, Some("3"))], false).await, INVALID_REQUEST);
    assert_eq!(client.alter(BROKER, "1", &[("num.partitions", DELETE, None)], false).await, NONE);
    assert_eq!(client.alter(BROKER, "1", &[], false).await, NONE);

    // A resource named twice is refused both times; v0 works like v1.
    let twice = IncrementalAlterConfigsRequest::default().with_resources(vec![
        alter_resource(TOPIC, "alt", &[("segment.ms", SET, Some("1000"))]),
        alter_resource(TOPIC, "alt", &[("segment.ms", SET, Some("2000"))]),
    ]);
    let response = client.call(0, &twice).await;
    assert_eq!(
        response.responses.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        vec![INVALID_REQUEST, INVALID_REQUEST]
    );
    unchanged(&client.topic_configs("alt").await);
    let v0 = IncrementalAlterConfigsRequest::default().with_resources(vec![alter_resource(
        TOPIC,
        "alt",
        &[("segment.ms", SET, Some("3600000"))],
    )]);
    assert_eq!(client.call(0, &v0).await.responses[0].error_code, NONE);

    drop(client);
    node.stop().await;
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    let configs = client.topic_configs("alt").await;
    assert_eq!(value(&configs, "retention.ms"), ("5000".into(), 1), "alterations survive a restart");
    assert_eq!(value(&configs, "segment.ms"), ("3600000".into(), 1));
    assert_eq!(value(&configs, "cleanup.policy"), ("compact".into(), 1));
    // A compacted topic: retention.ms is kept but deletes nothing.
    assert_eq!((log_config(&node).retention_ms, log_config(&node).segment_ms), (-1, 3_600_000));
    // Subtracting the last policy leaves an empty list, which Kafka 4.1 accepts.
    assert_eq!(client.alter(TOPIC, "alt", &[("cleanup.policy", SUBTRACT, Some("compact"))], false).await, NONE);
    assert_eq!(value(&client.topic_configs("alt").await, "cleanup.policy"), (String::new(), 1));
    drop(client);
    node.stop().await;
}

fn legacy(kind: i8, name: &str, configs: &[(&str, Option<&str>)]) -> alter_configs_request::AlterConfigsResource {
    alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(kind)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_string((*k).to_string()))
                        .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_alter_configs_replaces_all_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &[]).await;
    let mut client = node.client().await;
    assert_eq!(client.create_topic("legacy", 1, &[("retention.ms", "1000")]).await.error_code, NONE);
    assert_eq!(
        client.alter_legacy(vec![legacy(TOPIC, "legacy", &[("segment.ms", Some("2000"))])], true).await,
        vec![NONE]
    );
    assert_eq!(
        client
            .alter_legacy(
                vec![
                    legacy(TOPIC, "legacy", &[("segment.ms", Some("x"))]),
                    legacy(TOPIC, "nope", &[("segment.ms", Some("2000"))]),
                    legacy(BROKER, "1", &[("num.partitions", Some("2"))]),
                    legacy(8, "1", &[("root", Some("DEBUG"))]),
                    legacy(TOPIC, "other", &[("segment.ms", None)]),
                ],
                false
            )
            .await,
        vec![INVALID_CONFIG, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST, INVALID_REQUEST, INVALID_REQUEST]
    );
    let configs = client.topic_configs("legacy").await;
    assert_eq!(
        (value(&configs, "retention.ms"), value(&configs, "segment.ms")),
        (("1000".into(), 1), ("604800000".into(), 5))
    );

    for version in 0..=2 {
        let ms = format!("{}", 2000 + i32::from(version));
        let request =
            AlterConfigsRequest::default().with_resources(vec![legacy(TOPIC, "legacy", &[("segment.ms", Some(&ms))])]);
        assert_eq!(client.call(version, &request).await.responses[0].error_code, NONE, "v{version}");
        let configs = client.topic_configs("legacy").await;
        assert_eq!(value(&configs, "segment.ms"), (ms, 1));
        assert_eq!(value(&configs, "retention.ms"), ("604800000".into(), 5), "settings not listed return to defaults");
    }
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_checks_like_kafka() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &["num.partitions=2"]).await;
    let mut client = node.client().await;

    let created = client.create_topic("ct", 3, &[("retention.ms", "1000")]).await;
    assert_eq!((created.error_code, created.num_partitions, created.replication_factor), (NONE, 3, 1));
    assert!(!created.topic_id.is_nil());
    let configs = created.configs.expect("configs");
    let retention = configs.iter().find(|c| c.name.as_str() == "retention.ms").expect("retention.ms");
    assert_eq!((retention.value.as_deref(), retention.config_source), (Some("1000"), 1));

    let code = |result: CreatableTopicResult| result.error_code;
    assert_eq!(code(client.create_topic("ct", 3, &[]).await), TOPIC_ALREADY_EXISTS);
    assert_eq!(code(client.create_topic("bad/name", 1, &[]).await), INVALID_TOPIC_EXCEPTION);
    assert_eq!(code(client.create_topic(&"x".repeat(250), 1, &[]).await), INVALID_TOPIC_EXCEPTION);
    assert_eq!(code(client.create_topic("c.t", 1, &[]).await), NONE);
    assert_eq!(code(client.create_topic("c_t", 1, &[]).await), INVALID_TOPIC_EXCEPTION, "collides with c.t");
    assert_eq!(code(client.create_topic("cfg-key", 1, &[("retention.forever", "1")]).await), INVALID_CONFIG);
    assert_eq!(code(client.create_topic("cfg-value", 1, &[("retention.ms", "soon")]).await), INVALID_CONFIG);
    assert_eq!(code(client.create_topic("zero", 0, &[]).await), INVALID_PARTITIONS);
    assert_eq!(
        code(client.create_topic("both-bad", 0, &[("bogus", "1")]).await),
        INVALID_CONFIG,
        "configs are checked first"
    );
    let defaulted = client.create_topic("defaulted", -1, &[]).await;
    assert_eq!((defaulted.error_code, defaulted.num_partitions), (NONE, 2), "num.partitions");

    let rf3 = client.create_one(creatable("rf3", 1, &[]).with_replication_factor(3), false).await;
    assert_eq!(rf3.error_code, INVALID_REPLICATION_FACTOR);
    assert_eq!(
        rf3.error_message.as_deref(),
        Some(
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached \
             because only 1 broker(s) are registered."
        ),
        "reference Kafka 4.1.2's message"
    );
    assert_eq!(
        client.create_one(creatable("rf0", 1, &[]).with_replication_factor(0), false).await.error_code,
        INVALID_REPLICATION_FACTOR
    );
    let null_config = creatable("null-config", 1, &[])
        .with_configs(vec![CreatableTopicConfig::default().with_name(StrBytes::from_static_str("retention.ms"))]);
    assert_eq!(client.create_one(null_config, false).await.error_code, INVALID_CONFIG);
    let assign = |ids: Vec<(i32, Vec<i32>)>| {
        ids.into_iter()
            .map(|(index, brokers)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(index)
                    .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
            })
            .collect::<Vec<_>>()
    };
    let both = creatable("both", 2, &[]).with_assignments(assign(vec![(0, vec![1])]));
    assert_eq!(client.create_one(both, false).await.error_code, INVALID_REQUEST);
    let elsewhere = creatable("elsewhere", -1, &[]).with_assignments(assign(vec![(0, vec![4])]));
    assert_eq!(client.create_one(elsewhere, false).await.error_code, INVALID_REPLICA_ASSIGNMENT);
    let gap = creatable("gap", -1, &[]).with_assignments(assign(vec![(0, vec![1]), (2, vec![1])]));
    assert_eq!(client.create_one(gap, false).await.error_code, INVALID_REPLICA_ASSIGNMENT);
    let manual = client
        .create_one(creatable("manual", -1, &[]).with_assignments(assign(vec![(1, vec![1]), (0, vec![1])])), false)
        .await;
    assert_eq!((manual.error_code, manual.num_partitions, manual.replication_factor), (NONE, 2, 1));

    let checked = client.create_one(creatable("only-checked", 4, &[("segment.ms", "1000")]), true).await;
    assert_eq!((checked.error_code, checked.num_partitions), (NONE, 4));
    assert_eq!(
        client.topic_metadata("only-checked").await.error_code,
        UNKNOWN_TOPIC_OR_PARTITION,
        "validate_only creates nothing"
    );

    let request = CreateTopicsRequest::default().with_topics(vec![
        creatable("twice", 1, &[]),
        creatable("twice", 1, &[]),
        creatable("once", 1, &[]),
    ]);
    let response = client.call(7, &request).await;
    let codes: Vec<(&str, i16)> = response.topics.iter().map(|t| (t.name.0.as_str(), t.error_code)).collect();
    assert_eq!(codes, vec![("twice", INVALID_REQUEST), ("once", NONE)]);
    assert_eq!(client.topic_metadata("twice").await.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    drop(client);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_topics_by_name_and_id_and_auto_creates_when_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &["num.partitions=3"]).await;
    let mut client = node.client().await;
    let id = client.create_topic("meta", 2, &[]).await.topic_id;

    // Every topic: ours, and any internal topic the group coordinator made, flagged as internal.
    let all = client.call(12, &MetadataRequest::default().with_topics(None)).await;
    let user: Vec<&MetadataResponseTopic> = all.topics.iter().filter(|t| !t.is_internal).collect();
    assert_eq!(user.len(), 1);
    assert_eq!((user[0].topic_id, user[0].partitions.len()), (id, 2));
    assert!(
        all.topics.iter().filter(|t| t.is_internal).all(|t| t.name.as_ref().is_some_and(|n| n.0.starts_with("__")))
    );
    assert_eq!(all.cluster_id.as_deref(), Some(node.broker.cluster_id.as_str()));
    assert_eq!(
        (all.controller_id, all.brokers.len(), all.brokers[0].port),
        (BrokerId(1), 1, i32::from(node.addr.port()))
    );
    let v0_all = client.call(0, &MetadataRequest::default().with_topics(Some(Vec::new()))).await;
    assert_eq!(v0_all.topics.len(), all.topics.len(), "v0: an empty list means every topic");
    let v1_none = client.call(1, &MetadataRequest::default().with_topics(Some(Vec::new()))).await;
    assert!(v1_none.topics.is_empty(), "v1+: an empty list means no topic");

    let by_id = |topic_id: Uuid| {
        MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default().with_topic_id(topic_id)]))
    };
    let found = client.call(12, &by_id(id)).await;
    assert_eq!(
        found.topics[0].name.as_ref().map(|n| n.0.as_str()),
        Some("meta"),
        "by id, with an empty name beside it"
    );
    let null_name = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(None).with_topic_id(id)]));
    let found = client.call(12, &null_name).await;
    assert_eq!((found.topics[0].error_code, found.topics[0].partitions.len()), (NONE, 2));
    assert_eq!(found.topics[0].name.as_ref().map(|n| n.0.as_str()), Some("meta"));
    let missing = client.call(13, &by_id(Uuid::new_v4())).await;
    assert_eq!(missing.topics[0].error_code, UNKNOWN_TOPIC_ID);

    // Auto-creation: allowed by the client (v4+) or always (v0-3), with num.partitions.
    let ask = |name: &str, allow: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(name)))]))
            .with_allow_auto_topic_creation(allow)
    };
    let refused = client.call(9, &ask("auto-no", false)).await;
    assert_eq!(refused.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let made = client.call(9, &ask("auto-yes", true)).await;
    assert_eq!((made.topics[0].error_code, made.topics[0].partitions.len()), (NONE, 3));
    let old_client = client.call(3, &ask("auto-old", true)).await;
    assert_eq!(old_client.topics[0].error_code, NONE, "v0-3 always auto-create");
    let invalid = client.call(9, &ask("bad name", true)).await;
    assert_eq!(invalid.topics[0].error_code, INVALID_TOPIC_EXCEPTION);
    let twice = client
        .call(
            9,
            &ask("meta", true).with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name("meta"))),
                MetadataRequestTopic::default().with_name(Some(topic_name("meta"))),
            ])),
        )
        .await;
    assert_eq!(twice.topics.len(), 1, "each topic answered once");

    // Authorized operations, as Kafka reports them without an authorizer.
    let ops = client
        .call(
            10,
            &ask("meta", false)
                .with_include_cluster_authorized_operations(true)
                .with_include_topic_authorized_operations(true),
        )
        .await;
    assert_eq!((ops.cluster_authorized_operations, ops.topics[0].topic_authorized_operations), (8096, 3576));
    drop(client);
    node.stop().await;

    // Topic ids survive a restart; with auto-creation off nothing is made.
    let node = Node::start(dir.path(), &["auto.create.topics.enable=false"]).await;
    let mut client = node.client().await;
    assert_eq!(client.topic_metadata("meta").await.topic_id, id);
    assert_eq!(client.topic_metadata("auto-yes").await.partitions.len(), 3);
    let off = client.call(9, &ask("auto-off", true)).await;
    assert_eq!(off.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert!(node.broker.topics.get("auto-off").is_none());
    drop(client);
    node.stop().await;
}
