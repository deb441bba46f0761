//! Delayed delivery at rate (issue 16's figure): a producer sends 10,000 records a second, each
//! due 500 ms after it was sent (`strata-deliver-at`), while a share group member fetches and
//! accepts them on a raw socket. No record reaches the member before it is due, every record
//! reaches it, and the 99th percentile of how late records arrive (the member's clock when the
//! ShareFetch answer arrived, minus the record's due time) is at most 100 ms. Alone in its test
//! binary, so that no other test's broker competes for the two cores.

use std::time::{Duration, Instant};

use strata_testkit::batches::{Batch, decode};
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_testkit::shares;
use strata_tests::{Broker, BrokerOptions};

const TOPIC: &str = "delayed";
const GROUP: &str = "timely";
/// A member id as clients make them, a Kafka `Uuid` string (`shares::member_id("member-timely")`).
const MEMBER: &str = "bWVtYmVyLXRpbWVseQAAAA";
const RATE_PER_SECOND: usize = 10_000;
/// Records per produce request: one request every 10 ms.
const PER_REQUEST: usize = 100;
const SECONDS: usize = 3;
const DELAY_MS: i64 = 500;
const ACCEPT: i8 = 1;

fn wall_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(since_epoch.as_millis()).expect("epoch ms")
}

/// Sends `SECONDS` of records at `RATE_PER_SECOND`, each due `DELAY_MS` after it was sent.
fn produce_at_rate(address: &str) {
    let mut conn = RawConn::connect(address);
    let start = Instant::now();
    let requests_total = RATE_PER_SECOND * SECONDS / PER_REQUEST;
    for n in 0..requests_total {
        let slot = start + Duration::from_millis(u64::try_from(n * 1000 * PER_REQUEST / RATE_PER_SECOND).expect("ms"));
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
        let now = wall_ms();
        let due = (now + DELAY_MS).to_string();
        let mut batch = Batch::new();
        for i in 0..PER_REQUEST {
            let value = format!("record-{n}-{i}");
            batch = batch.record(None, Some(value.as_bytes()), now).header("strata-deliver-at", Some(due.as_bytes()));
        }
        let produced = requests::produce_acks(&mut conn, TOPIC, 0, batch.encode(), 1);
        assert_eq!(produced.error_code, codes::NONE, "produce {n}");
    }
}

#[test]
fn ten_thousand_delayed_records_a_second_arrive_when_due_and_p99_at_most_100_ms_late() {
    // Records waiting for their time count against the partition's in-flight records.
    let broker = Broker::start(BrokerOptions::default().with("group.share.partition.max.record.locks", "10000"));
    let mut conn = RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, TOPIC, 1);
    let topic = requests::metadata(&mut conn, Some(&[TOPIC]), false).topics[0].topic_id;
    let joined = shares::heartbeat(&mut conn, (GROUP, MEMBER), 0, Some(&[TOPIC]));
    assert_eq!(joined.error_code, codes::NONE);
    assert_eq!(shares::acquired(&shares::fetch(&mut conn, (GROUP, MEMBER), 0, (topic, 0), 0, &[])).0, []);

    let address = broker.bootstrap().to_string();
    let producer = std::thread::spawn(move || produce_at_rate(&address));
    let total = RATE_PER_SECOND * SECONDS;
    let mut lateness: Vec<i64> = Vec::with_capacity(total);
    let mut acks: Vec<(i64, i64, i8)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(u64::try_from(SECONDS).expect("seconds") + 30);
    let mut epoch = 1;
    while lateness.len() < total {
        assert!(Instant::now() < deadline, "only {} of {total} records arrived", lateness.len());
        let response = shares::fetch(&mut conn, (GROUP, MEMBER), epoch, (topic, 0), 1000, &acks);
        let arrived = wall_ms();
        epoch += 1;
        let (runs, _) = shares::acquired(&response);
        let acquired = |offset: i64| runs.iter().any(|&(first, last, _)| (first..=last).contains(&offset));
        let bytes = response.responses.first().and_then(|t| t.partitions.first()).and_then(|p| p.records.clone());
        for record in bytes.map(|b| decode(&b)).unwrap_or_default().into_iter().flat_map(|set| set.records) {
            if !acquired(record.offset) {
                continue;
            }
            let due = record.headers.get(&b"strata-deliver-at"[..]).and_then(|v| v.as_ref()).expect("due header");
            let due: i64 = String::from_utf8_lossy(due).parse().expect("epoch ms");
            lateness.push(arrived - due);
        }
        acks = runs.iter().map(|&(first, last, _)| (first, last, ACCEPT)).collect();
    }
    producer.join().expect("producer");
    assert_eq!(lateness.len(), total, "every record once");
    lateness.sort_unstable();
    let early = lateness.iter().filter(|&&l| l < 0).count();
    let at = |q: f64| lateness[((lateness.len() - 1) as f64 * q) as usize];
    println!(
        "delayed delivery at {RATE_PER_SECOND}/s: lateness p50 {} ms, p99 {} ms, max {} ms, early {early}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    assert_eq!(early, 0, "no record before it is due");
    assert!(at(0.99) <= 100, "p99 lateness {} ms", at(0.99));
}
