//! ApiVersions on a real socket advertises exactly the broker's API table
//! (`strata_broker::dispatch`), with and without `strata.legacy.protocol.enable`. That every
//! advertised version really works is `traps.rs`'s `every_advertised_version_works`.

use std::collections::BTreeSet;

use strata_broker::dispatch;
use strata_testkit::RawConn;
use strata_testkit::requests;
use strata_tests::{Broker, BrokerOptions};

/// `(api key, min, max)` as the broker advertises them.
fn advertised(broker: &Broker) -> BTreeSet<(i16, i16, i16)> {
    let response = RawConn::connect(broker.bootstrap()).request(3, &requests::api_versions_request());
    response.api_keys.iter().map(|k| (k.api_key, k.min_version, k.max_version)).collect()
}

/// `(api key, min, max)` as the table says they are served.
fn table(legacy: bool) -> BTreeSet<(i16, i16, i16)> {
    dispatch::specs().map(|s| (s.key as i16, s.min_version(legacy), s.max)).collect()
}

#[test]
fn api_versions_advertises_exactly_the_api_table() {
    let legacy = Broker::start_default();
    assert_eq!(advertised(&legacy), table(true), "with strata.legacy.protocol.enable (the default)");
    let kafka4 = Broker::start(BrokerOptions::default().with("strata.legacy.protocol.enable", "false"));
    assert_eq!(advertised(&kafka4), table(false), "without strata.legacy.protocol.enable");
    assert_ne!(table(true), table(false), "the legacy setting changes what is advertised");
}
