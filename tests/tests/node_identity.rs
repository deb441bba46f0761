//! A node's identity as Kafka keeps it: the data directory's `meta.properties` (cluster id, node
//! id, directory id), written on the first start or by `strata format -t ID` and checked at every
//! start. Clients see that cluster id; a directory formatted for another node id is refused, as
//! Kafka 4.1 refuses it, and left intact; quorum settings that cannot work (other voters with no
//! controller listener, a node missing from its voters, a broker-only node with no voters) are refused rather than
//! run as a lone node; `broker.rack` is served as Kafka serves it.

use std::path::Path;
use std::process::Output;

use strata_testkit::requests;
use strata_tests::broker::run_strata;
use strata_tests::{Broker, BrokerOptions};

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `key`'s value in the data directory's meta.properties.
fn stored(data_dir: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(data_dir.join("meta.properties")).expect("meta.properties");
    let prefix = format!("{key}=");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {key} in {text}")).to_owned()
}

fn cluster_id_served(broker: &Broker) -> String {
    let mut conn = strata_testkit::RawConn::connect(broker.bootstrap());
    let metadata = requests::metadata(&mut conn, None, false);
    metadata.cluster_id.expect("Metadata names the cluster").to_string()
}

#[test]
fn the_first_start_formats_the_directory_and_clients_see_its_cluster_id() {
    let mut broker = Broker::start_default();
    let id = stored(broker.data_dir(), "cluster.id");
    assert_eq!(id.len(), 22, "a Kafka UUID: {id}");
    assert_eq!(stored(broker.data_dir(), "node.id"), "1");
    assert_eq!(stored(broker.data_dir(), "version"), "1");
    assert_eq!(cluster_id_served(&broker), id);
    broker.kill();
    broker.restart();
    assert_eq!(cluster_id_served(&broker), id, "the same cluster after a restart");
}

#[test]
fn strata_format_writes_the_cluster_id_the_broker_then_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf8");
    let uuid = run_strata(["random-uuid"]);
    assert!(uuid.status.success(), "{}", text(&uuid));
    let id = String::from_utf8_lossy(&uuid.stdout).trim().to_owned();

    let format = run_strata(["format", "-t", &id, "--data-dir", data_arg, "--override", "node.id=5"]);
    assert!(format.status.success(), "{}", text(&format));
    assert!(text(&format).contains(&id), "{}", text(&format));
    let again = run_strata(["format", "-t", &id, "--data-dir", data_arg, "--override", "node.id=5"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("is already formatted. Use --ignore-formatted"), "{}", text(&again));
    let ignored = run_strata(["format", "-g", "-t", &id, "--data-dir", data_arg, "--override", "node.id=5"]);
    assert!(ignored.status.success(), "{}", text(&ignored));
    let other =
        run_strata(["format", "-g", "-t", "another-cluster", "--data-dir", data_arg, "--override", "node.id=5"]);
    assert_eq!(other.status.code(), Some(1), "{}", text(&other));
    assert!(text(&other).contains(&format!("Expected another-cluster, but read {id}")), "{}", text(&other));

    let options = BrokerOptions { data_dir: Some(data.clone()), ..BrokerOptions::default() }.with("node.id", "5");
    let broker = Broker::start(options);
    assert_eq!(cluster_id_served(&broker), id);
}

#[test]
fn a_directory_formatted_for_another_node_id_is_refused_and_left_intact() {
    let mut broker = Broker::start_default();
    let mut conn = strata_testkit::RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "kept", 2);
    broker.stop_ok();
    let data = broker.data_dir().to_str().expect("utf8").to_owned();
    let before = std::fs::read_to_string(broker.data_dir().join("meta.properties")).expect("read");

    let refused = run_strata(["--listen", "127.0.0.1:0", "--data-dir", &data, "--override", "node.id=2"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(!text(&refused).contains("listening on"), "{}", text(&refused));
    assert!(text(&refused).contains("stored node id 1 doesn't match the configured node.id 2"), "{}", text(&refused));
    let after = std::fs::read_to_string(broker.data_dir().join("meta.properties")).expect("read");
    assert_eq!(after, before, "the refusal wrote nothing");

    broker.restart();
    let mut conn = strata_testkit::RawConn::connect(broker.bootstrap());
    let metadata = requests::metadata(&mut conn, Some(&["kept"]), false);
    assert_eq!(metadata.topics[0].error_code, 0);
    let leaders: Vec<i32> = metadata.topics[0].partitions.iter().map(|p| p.leader_id.0).collect();
    assert_eq!(leaders, vec![1, 1], "still led by node 1, in the same leader epoch");
}

#[test]
fn quorum_settings_that_cannot_work_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf8");
    let start = |setting: &str| run_strata(["--listen", "127.0.0.1:0", "--data-dir", data, "--override", setting]);
    let three = start("controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095");
    assert_eq!(three.status.code(), Some(2), "{}", text(&three));
    // Other voters make a cluster member, which needs a controller listener to serve the quorum on.
    assert!(text(&three).contains("must include one named in controller.listener.names"), "{}", text(&three));
    let missing = start("controller.quorum.voters=2@127.0.0.1:9093");
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("the node id 1 must be included in the set of voters"), "{}", text(&missing));
    // A broker-only node needs controllers to follow.
    let broker_only = start("process.roles=broker");
    assert_eq!(broker_only.status.code(), Some(2), "{}", text(&broker_only));
    assert!(text(&broker_only).contains("needs the controllers in controller.quorum.voters"), "{}", text(&broker_only));
    assert!(!dir.path().join("meta.properties").exists(), "a refused configuration formats nothing");

    // The node as its own single voter is the quorum of one that a Strata node is.
    let own = BrokerOptions::default().with("controller.quorum.voters", "1@127.0.0.1:9093");
    let broker = Broker::start(own);
    requests::assert_serves(broker.bootstrap());
}

#[test]
fn broker_rack_is_served_in_metadata_and_describe_cluster() {
    use kafka_protocol::messages::DescribeClusterRequest;
    let broker = Broker::start(BrokerOptions::default().with("broker.rack", "rack-a"));
    let mut conn = strata_testkit::RawConn::connect(broker.bootstrap());
    let metadata = requests::metadata(&mut conn, None, false);
    assert_eq!(metadata.brokers[0].rack.as_deref(), Some("rack-a"));
    let cluster = conn.request(0, &DescribeClusterRequest::default());
    assert_eq!(cluster.brokers[0].rack.as_deref(), Some("rack-a"));
    // A topic's partitions are placed on the rack's one broker.
    requests::create_topic_ok(&mut conn, "racked", 3);
    let metadata = requests::metadata(&mut conn, Some(&["racked"]), false);
    for p in &metadata.topics[0].partitions {
        assert_eq!((p.leader_id.0, p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>()), (1, vec![1]));
    }

    let plain = Broker::start_default();
    let mut conn = strata_testkit::RawConn::connect(plain.bootstrap());
    assert_eq!(requests::metadata(&mut conn, None, false).brokers[0].rack, None, "no rack when unset");
}
