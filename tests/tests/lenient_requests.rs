//! Requests that Kafka answers although they are not exactly what its schema describes, captured
//! from real clients: Strata must answer them too, as Kafka does, and never close the connection
//! where Kafka would reply. And the one place Kafka checks more than the schema: ApiVersions v3's
//! client software name and version (KIP-511).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use strata_testkit::RawConn;
use strata_testkit::codes::*;
use strata_testkit::requests;
use strata_tests::Broker;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

/// Reads one response frame and splits off its header, checking the correlation id.
fn read_response(conn: &mut RawConn, header_version: i16, correlation_id: i32) -> Bytes {
    let mut frame = conn.read_frame();
    let header = ResponseHeader::decode(&mut frame, header_version).expect("response header");
    assert_eq!(header.correlation_id, correlation_id, "correlation id");
    frame
}

/// librdkafka 2.15 and 2.16 (confluent-kafka 2.16.1's `AdminClient.list_topics()`, and about half
/// of librdkafka's own test suite) ask for all topics with a Metadata v13 request that has three
/// stray bytes after a null topic array. Strata used to close the connection ("3 unread bytes
/// after its body"); Kafka reads the fields it knows and answers. These are the captured bytes.
#[test]
fn librdkafka_2_16_metadata_v13_for_all_topics_is_answered() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "listed-a", 2);
    requests::create_topic_ok(&mut conn, "listed-b", 1);

    let captured = hex("0003000d00000003000772646b61666b610000000000010000");
    conn.send_frame(&captured);
    let mut body = read_response(&mut conn, 1, 3);
    let metadata = MetadataResponse::decode(&mut body, 13).expect("Metadata v13 response");
    assert_eq!(metadata.error_code, NONE);
    assert_eq!(metadata.brokers.len(), 1, "the broker lists itself");
    let mut names: Vec<String> = metadata
        .topics
        .iter()
        .filter(|t| !t.is_internal)
        .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_string()))
        .collect();
    names.sort();
    assert_eq!(names, ["listed-a", "listed-b"], "a null topic array asks for every topic");

    // The connection stays usable: the next request on it is answered too.
    let again = requests::metadata(&mut conn, Some(&["listed-a"]), false);
    assert_eq!(again.topics.len(), 1);
    requests::assert_serves(broker.bootstrap());
}

/// Bytes after a request's last field are ignored for every API, not only Metadata.
#[test]
fn bytes_after_any_request_body_are_ignored() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    for (version, trailing) in [(12i16, &b"\x00"[..]), (9, b"extra bytes"), (1, &[0u8; 64][..])] {
        let (correlation_id, mut request) =
            conn.encode_request(version, &MetadataRequest::default().with_topics(Some(Vec::new())));
        request.put_slice(trailing);
        conn.send_frame(&request);
        let header_version = if version >= 9 { 1 } else { 0 };
        let mut body = read_response(&mut conn, header_version, correlation_id);
        let metadata = MetadataResponse::decode(&mut body, version).expect("Metadata response");
        assert_eq!(metadata.brokers.len(), 1, "Metadata v{version} with {} stray bytes", trailing.len());
    }
    let (correlation_id, mut request) = conn.encode_request(3, &requests::api_versions_request());
    request.put_slice(b"\x01\x02\x03");
    conn.send_frame(&request);
    let mut body = read_response(&mut conn, 0, correlation_id);
    let versions = ApiVersionsResponse::decode(&mut body, 3).expect("ApiVersions response");
    assert_eq!(versions.error_code, NONE);
    assert!(!versions.api_keys.is_empty());
}

/// Tagged fields this version does not define are skipped, as Kafka's generated readers do.
#[test]
fn unknown_tagged_fields_in_a_request_are_skipped() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "tagged", 3);
    let mut request = MetadataRequest::default()
        .with_topics(Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(requests::topic_name("tagged"))),
        ]))
        .with_allow_auto_topic_creation(false);
    request.unknown_tagged_fields.insert(77, Bytes::from_static(b"future"));
    let metadata: MetadataResponse = conn.request(12, &request);
    assert_eq!(metadata.topics.len(), 1);
    assert_eq!(metadata.topics[0].error_code, NONE);
    assert_eq!(metadata.topics[0].partitions.len(), 3);
}

fn api_versions_v3(conn: &mut RawConn, name: &'static str, version: &'static str) -> ApiVersionsResponse {
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str(name))
        .with_client_software_version(StrBytes::from_static_str(version));
    conn.request(3, &request)
}

/// KIP-511: Kafka checks the client software name and version of ApiVersions v3+ against
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?` and answers INVALID_REQUEST with no key list when
/// either does not match; the connection stays open.
#[test]
fn api_versions_v3_with_a_malformed_software_name_gets_invalid_request() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    for (name, version) in [("", "1.0"), ("my client", "1.0"), ("client", "1.0-"), ("-client", "1")] {
        let response = api_versions_v3(&mut conn, name, version);
        assert_eq!(response.error_code, INVALID_REQUEST, "name {name:?} version {version:?}");
        assert!(response.api_keys.is_empty(), "no keys with INVALID_REQUEST");
    }
    let response = api_versions_v3(&mut conn, "confluent-kafka-python", "2.16.1-rdkafka-2.16.0");
    assert_eq!(response.error_code, NONE);
    assert!(response.api_keys.iter().any(|k| k.api_key == 3), "Metadata is listed");
    // v0-v2 carry no software name, so there is nothing to check.
    let response: ApiVersionsResponse = conn.request(2, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, NONE);
}

/// The request header of a flexible version may carry tagged fields of its own; they are skipped.
#[test]
fn tagged_fields_in_a_flexible_request_header_are_skipped() {
    let broker = Broker::start_default();
    let mut conn = RawConn::connect(broker.bootstrap());
    // Header v2 by hand: Metadata (3) v12, correlation id 41, client id "t", then one tagged
    // field (tag 5, 2 bytes) where well-behaved clients write none.
    let mut frame = BytesMut::new();
    frame.put_i16(3);
    frame.put_i16(12);
    frame.put_i32(41);
    frame.put_i16(1);
    frame.put_u8(b't');
    frame.put_slice(&[1, 5, 2, 0xab, 0xcd]);
    MetadataRequest::default().with_topics(Some(Vec::new())).encode(&mut frame, 12).expect("encode body");
    conn.send_frame(&frame);
    let mut body = read_response(&mut conn, 1, 41);
    let metadata = MetadataResponse::decode(&mut body, 12).expect("Metadata v12 response");
    assert_eq!(metadata.brokers.len(), 1);
}
