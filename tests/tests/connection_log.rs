//! What the broker logs about each client connection at debug level: the client software name and
//! version it reports (ApiVersions v3+, KIP-511) and each API version it uses, once per
//! connection, so an operator can see which clients and protocol versions are in use.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use strata_tests::{Broker, BrokerOptions};

#[test]
fn client_software_and_api_versions_are_logged_once_per_connection() {
    let broker = Broker::start(BrokerOptions::default().with_log_filter("info,strata_broker=debug"));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("client.id", "log-probe")
        .create()
        .expect("consumer");
    for _ in 0..3 {
        consumer.fetch_metadata(None, Duration::from_secs(10)).expect("metadata");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = broker.stderr_log();
        if log.contains("client software") && log.contains("api=Metadata") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let software: Vec<&str> = log.lines().filter(|l| l.contains("client software")).collect();
    assert!(!software.is_empty(), "no client software line:\n{log}");
    assert!(
        software.iter().all(|l| l.contains("software=librdkafka") && l.contains("client=log-probe")),
        "librdkafka names itself: {software:?}"
    );
    let metadata_lines: Vec<&str> =
        log.lines().filter(|l| l.contains("client uses this API version") && l.contains("api=Metadata")).collect();
    assert!(!metadata_lines.is_empty(), "the Metadata version is logged:\n{log}");
    // Three metadata calls, each logged only the first time on its connection: librdkafka may
    // open a bootstrap and a broker connection, so at most one line per connection.
    let connections =
        log.lines().filter(|l| l.contains("client uses this API version") && l.contains("api=ApiVersions")).count();
    assert!(
        metadata_lines.len() <= connections,
        "{} Metadata lines for {connections} connections: {metadata_lines:?}",
        metadata_lines.len()
    );
}
