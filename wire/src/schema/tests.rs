//! The layouts against the `kafka-protocol` crate: for every request version the crate decodes,
//! a sample body built from the layout (one element in every array, every known tagged field
//! present) decodes with the crate, takes all its bytes, and encodes back to the same bytes; and
//! bodies that claim more than they hold are refused before the crate sees them.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind};

use super::layout::{Field, Layout};
use super::walk::{SchemaError, check};
use super::{check_embedded, check_request, layouts};

/// A sample body for `layout` at `version`.
fn sample(layout: &Layout, version: i16) -> BytesMut {
    let mut out = BytesMut::new();
    let flexible = layout.flexible.contains(version);
    put_fields(&mut out, &layout.fields, version, flexible);
    out
}

fn put_length(out: &mut BytesMut, n: usize, flexible: bool, wide: bool) {
    match (flexible, wide) {
        (true, _) => put_uvarint(out, n as u64 + 1),
        (false, true) => out.put_i32(n as i32),
        (false, false) => out.put_i16(n as i16),
    }
}

fn put_uvarint(out: &mut BytesMut, mut n: u64) {
    while n >= 0x80 {
        out.put_u8((n as u8) | 0x80);
        n >>= 7;
    }
    out.put_u8(n as u8);
}

fn put_fields(out: &mut BytesMut, fields: &[Field], version: i16, flexible: bool) {
    for field in fields.iter().filter(|f| f.tag.is_none() && f.versions.contains(version)) {
        put_field(out, field, version, flexible);
    }
    if flexible {
        let tagged: Vec<&Field> =
            fields.iter().filter(|f| f.tagged_versions.is_some_and(|v| v.contains(version))).collect();
        put_uvarint(out, tagged.len() as u64);
        let mut tagged = tagged;
        tagged.sort_by_key(|f| f.tag);
        for field in tagged {
            let mut value = BytesMut::new();
            put_field(&mut value, field, version, flexible);
            put_uvarint(out, u64::from(field.tag.unwrap_or_default()));
            put_uvarint(out, value.len() as u64);
            out.put_slice(&value);
        }
    }
}

fn put_field(out: &mut BytesMut, field: &Field, version: i16, flexible: bool) {
    match field.kind.strip_prefix("[]") {
        Some(element) => {
            put_length(out, 1, flexible, true);
            put_value(out, element, field, version, flexible);
        }
        None => put_value(out, &field.kind, field, version, flexible),
    }
}

fn put_value(out: &mut BytesMut, kind: &str, field: &Field, version: i16, flexible: bool) {
    match kind {
        // Not zero: a tagged field equal to its default would be left out when re-encoded.
        "bool" | "int8" => out.put_u8(1),
        "int16" | "uint16" => out.put_u16(0x0101),
        "int32" | "uint32" => out.put_u32(0x0101_0101),
        "int64" | "float64" => out.put_u64(0x0101_0101_0101_0101),
        "uuid" => out.put_slice(&[1; 16]),
        "string" => {
            put_length(out, 1, flexible, false);
            out.put_u8(b'x');
        }
        "bytes" | "records" => {
            put_length(out, 1, flexible, true);
            out.put_u8(7);
        }
        "struct" => {
            if !field.kind.starts_with("[]") && field.nullable_struct.is_some_and(|v| v.contains(version)) {
                out.put_i8(1);
            }
            put_fields(out, &field.fields, version, flexible);
        }
        other => panic!("unknown type {other}"),
    }
}

#[test]
fn every_request_the_crate_decodes_has_a_layout_that_matches_it_byte_for_byte() {
    let mut checked = 0;
    for api_key in ApiKey::iter() {
        let layout = layouts().request(api_key as i16).unwrap_or_else(|| panic!("no layout for {api_key:?}"));
        let versions = api_key.valid_versions();
        for version in versions.min..=versions.max {
            assert!(layout.valid.contains(version), "{api_key:?} v{version} is not in Kafka's valid versions");
            let body = sample(layout, version).freeze();
            assert_eq!(check(layout, version, &body), Ok(body.len()), "{api_key:?} v{version}: the walk");
            let mut cursor = body.clone();
            let decoded = match RequestKind::decode(api_key, &mut cursor, version) {
                Ok(decoded) => decoded,
                // ApiKey's range can run past what the message type decodes (OffsetCommit v10).
                Err(e) if format!("{e:#}").contains("version not supported") => continue,
                Err(e) => panic!("{api_key:?} v{version}: the crate cannot decode the sample: {e:#}"),
            };
            assert!(cursor.is_empty(), "{api_key:?} v{version}: {} bytes left by the crate", cursor.len());
            let mut encoded = BytesMut::new();
            decoded.encode(&mut encoded, version).expect("encodes");
            assert_eq!(encoded.freeze(), body, "{api_key:?} v{version}: the crate re-encodes differently");
            checked += 1;
        }
    }
    assert!(checked >= 280, "only {checked} request versions checked");
}

/// Metadata v12 (flexible) claiming `count` topics, with nothing after the count.
fn metadata_claiming(count: u64) -> Bytes {
    let mut body = BytesMut::new();
    put_uvarint(&mut body, count + 1);
    body.freeze()
}

#[test]
fn an_array_count_beyond_the_bytes_left_is_refused_as_kafka_refuses_it() {
    let body = metadata_claiming(2_000_000_000);
    assert_eq!(
        check_request(ApiKey::Metadata as i16, 12, &body),
        Err(SchemaError::Count { count: 2_000_000_000, remaining: 0 })
    );
    // A non-flexible version with an INT32 count: Produce v3's topic array.
    let mut produce = BytesMut::new();
    produce.put_i16(-1); // transactional id
    produce.put_i16(1); // acks
    produce.put_i32(30_000); // timeout
    produce.put_i32(i32::MAX); // topics
    assert!(matches!(check_request(ApiKey::Produce as i16, 3, &produce), Err(SchemaError::Count { .. })));
}

#[test]
fn nested_counts_strings_and_tagged_fields_are_bounded_too() {
    // CreateTopics v5: one topic named "t" whose assignment array claims a million entries.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 2); // one topic
    put_uvarint(&mut body, 2);
    body.put_u8(b't');
    body.put_i32(1); // partitions
    body.put_i16(1); // replication factor
    put_uvarint(&mut body, 1_000_001); // assignments
    assert!(matches!(check_request(ApiKey::CreateTopics as i16, 5, &body), Err(SchemaError::Count { .. })));
    // A string longer than the body.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 2);
    put_uvarint(&mut body, 10_000);
    assert!(matches!(check_request(ApiKey::CreateTopics as i16, 5, &body), Err(SchemaError::Length { .. })));
    // A tagged field whose size runs past the body.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 1); // empty topic array
    body.put_u8(0); // allow auto topic creation
    body.put_u8(0); // include topic authorized operations
    put_uvarint(&mut body, 1); // one tagged field
    put_uvarint(&mut body, 9); // tag
    put_uvarint(&mut body, 1 << 20); // size
    assert!(matches!(check_request(ApiKey::Metadata as i16, 12, &body), Err(SchemaError::Length { .. })));
}

#[test]
fn the_consumer_subscription_layout_is_known() {
    let mut body = BytesMut::new();
    body.put_i32(i32::MAX); // topics
    assert!(matches!(check_embedded("ConsumerProtocolSubscription", 1, &body), Err(SchemaError::Count { .. })));
    let layout = super::layouts().embedded("ConsumerProtocolSubscription").expect("layout");
    let sample = sample(layout, 3);
    assert_eq!(check(layout, 3, &sample), Ok(sample.len()));
}

#[test]
fn a_cut_body_is_refused() {
    let layout = layouts().request(ApiKey::Produce as i16).expect("layout");
    let body = sample(layout, 9);
    for cut in 0..body.len() {
        assert!(check(layout, 9, &body[..cut]).is_err(), "cut at {cut}");
    }
}
