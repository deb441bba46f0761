//! Requests that claim huge arrays, sent to a broker that runs under an address-space limit
//! (`prlimit --as`), as it would run without memory overcommit (`vm.overcommit_memory=2`) or in
//! a container with a memory limit. A request of a few bytes that claims two billion elements
//! must not make the broker reserve memory for them: each is refused by the bounds check of its
//! body against Kafka's layout (`strata_wire::schema`), the connection is closed as Kafka closes
//! it, and the broker keeps serving. Without that check the broker aborted here on the first
//! request: the allocation fails under the limit and Rust aborts on a failed allocation.

use bytes::{BufMut, BytesMut};
use strata_testkit::RawConn;
use strata_testkit::requests;
use strata_tests::{Broker, BrokerOptions};

/// Far above what the broker maps when idle (about 1.3 GiB of address space with its thread
/// stacks and allocator arenas), far below what one hostile count asks for (tens of GiB).
const ADDRESS_SPACE_LIMIT: u64 = 8 << 30;

/// A request header v1 (non-flexible versions): api key, version, correlation id, client id.
fn header_v1(api_key: i16, version: i16) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(7);
    buf.put_i16(1);
    buf.put_u8(b't');
    buf
}

/// A request header v2 (flexible versions): v1 and an empty tagged-field section.
fn header_v2(api_key: i16, version: i16) -> BytesMut {
    let mut buf = header_v1(api_key, version);
    buf.put_u8(0);
    buf
}

fn put_uvarint(buf: &mut BytesMut, mut n: u64) {
    while n >= 0x80 {
        buf.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

/// (what, frame) for each hostile request.
fn hostile_requests() -> Vec<(&'static str, BytesMut)> {
    let mut out = Vec::new();

    let mut metadata = header_v2(3, 12);
    put_uvarint(&mut metadata, u64::from(u32::MAX)); // topics: 4 billion - 1
    out.push(("Metadata v12 claiming 4 billion topics", metadata));

    let mut produce = header_v2(0, 9);
    put_uvarint(&mut produce, 0); // transactional id: null
    produce.put_i16(1);
    produce.put_i32(30_000);
    put_uvarint(&mut produce, 2_000_000_000); // topics
    out.push(("Produce v9 claiming 2 billion topics", produce));

    let mut produce_v3 = header_v1(0, 3);
    produce_v3.put_i16(-1);
    produce_v3.put_i16(1);
    produce_v3.put_i32(30_000);
    produce_v3.put_i32(i32::MAX); // topics (INT32 count)
    out.push(("Produce v3 claiming i32::MAX topics", produce_v3));

    let mut create = header_v2(19, 5);
    put_uvarint(&mut create, 2); // one topic
    put_uvarint(&mut create, 2);
    create.put_u8(b'x');
    create.put_i32(1);
    create.put_i16(1);
    put_uvarint(&mut create, 1_500_000_000); // nested: the topic's replica assignments
    out.push(("CreateTopics v5 with an assignment array claiming 1.5 billion entries", create));

    let mut list_offsets = header_v2(2, 8);
    list_offsets.put_i32(-1);
    list_offsets.put_i8(0);
    put_uvarint(&mut list_offsets, 2); // one topic
    put_uvarint(&mut list_offsets, 2);
    list_offsets.put_u8(b'x');
    put_uvarint(&mut list_offsets, 3_000_000_000); // partitions
    out.push(("ListOffsets v8 claiming 3 billion partitions", list_offsets));
    out
}

#[test]
fn requests_claiming_huge_arrays_are_refused_under_an_address_space_limit() {
    let mut broker = Broker::start(BrokerOptions::default().with_address_space_limit(ADDRESS_SPACE_LIMIT));
    requests::assert_serves(broker.bootstrap());
    for (what, frame) in hostile_requests() {
        let mut conn = RawConn::connect(broker.bootstrap());
        conn.send_frame(&frame);
        conn.expect_closed(what);
        assert!(broker.is_running(), "the broker died on: {what}\n{}", broker.stderr_tail());
        requests::assert_serves(broker.bootstrap());
    }
    let log = broker.stderr_log();
    assert!(
        log.contains("tried to allocate a collection of size"),
        "the refusals are logged with Kafka's words:\n{}",
        broker.stderr_tail()
    );
    broker.stop_ok();
}
