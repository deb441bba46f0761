//! The registry on real files: a crash at any byte of the metadata log replays to the state after
//! some prefix of the changes; compaction and a crash inside it keep every change; a data
//! directory with the old `topics.json` opens with the same topics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use strata_log::{LogManager, LogOptions};
use uuid::Uuid;

use super::journal::{LOG_BYTES_MAX, LOG_FILE, MetadataLog, SNAPSHOT_FILE};
use super::*;

/// What the metadata says about one topic, comparable between a registry and a replayed image.
type View = BTreeMap<String, (Uuid, bool, Vec<Leadership>, BTreeMap<String, String>)>;

fn view_of(topics: &Topics) -> View {
    topics
        .all()
        .iter()
        .map(|t| (t.name.clone(), (t.id, t.internal, t.leadership.clone(), t.overrides.clone())))
        .collect()
}

fn view_of_image(image: &MetadataImage) -> View {
    image.topics().map(|t| (t.name.clone(), (t.id, t.internal, t.partitions.clone(), t.overrides.clone()))).collect()
}

fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn new_topic(name: &str, partitions: i32, overrides: BTreeMap<String, String>) -> NewTopic<'_> {
    NewTopic { name, partitions, replication_factor: 1, overrides, internal: false }
}

fn log_len(dir: &Path) -> usize {
    std::fs::metadata(dir.join("meta").join(LOG_FILE)).unwrap().len() as usize
}

#[test]
fn a_crash_at_any_byte_of_the_log_replays_to_the_state_after_some_prefix_of_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig::defaults(dir.path());
    let log = LogManager::open(dir.path(), LogOptions::default()).unwrap();
    let topics = Topics::load(&log, &config, 0).unwrap();
    // (state, log length) after loading and after each change.
    let mut after = vec![(view_of(&topics), log_len(dir.path()))];
    let mut record = |topics: &Topics| after.push((view_of(topics), log_len(dir.path())));
    topics.create(&log, &config, new_topic("a", 2, settings(&[("retention.ms", "1000")])), 0).unwrap();
    record(&topics);
    topics.create(&log, &config, new_topic("b", 1, BTreeMap::new()), 0).unwrap();
    record(&topics);
    topics.add_partitions(&log, &config, "a", 4, 0).unwrap();
    record(&topics);
    topics
        .set_overrides(&log, &config, "a", settings(&[("segment.bytes", "1048576"), ("cleanup.policy", "compact")]))
        .unwrap();
    record(&topics);
    topics.set_overrides(&log, &config, "b", settings(&[("retention.bytes", "10")])).unwrap();
    record(&topics);
    topics.delete(&log, &config, "b").unwrap();
    record(&topics);
    topics.create(&log, &config, new_topic("b", 3, BTreeMap::new()), 0).unwrap();
    record(&topics);
    topics.delete(&log, &config, "a").unwrap();
    record(&topics);
    let states: Vec<&View> = after.iter().map(|(view, _)| view).collect();
    assert!(states.windows(2).all(|pair| pair[0] != pair[1]), "each change shows in the state");
    assert!(!dir.path().join("meta").join(SNAPSHOT_FILE).exists(), "no compaction in this test");

    let bytes = std::fs::read(dir.path().join("meta").join(LOG_FILE)).unwrap();
    assert_eq!(bytes.len(), after.last().unwrap().1);
    for cut in 0..=bytes.len() {
        let crashed = tempfile::tempdir().unwrap();
        std::fs::write(crashed.path().join(LOG_FILE), &bytes[..cut]).unwrap();
        let (_, image) = MetadataLog::open(crashed.path(), LOG_BYTES_MAX).unwrap();
        // The changes whose appends were whole by `cut`; before the log's first record, none.
        let (expected, whole) =
            after.iter().rev().find(|(_, len)| *len <= cut).map_or((&after[0].0, 0), |(v, l)| (v, *l));
        assert_eq!(&view_of_image(&image), expected, "log cut at byte {cut}");
        // The torn tail is gone, so the next append follows the last whole change.
        let kept = std::fs::metadata(crashed.path().join(LOG_FILE)).unwrap().len() as usize;
        assert_eq!(kept, whole.max(after[0].1), "log cut at byte {cut}");
    }
}

#[test]
fn compaction_and_a_crash_inside_it_keep_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let topic = |name: &str, id: u128| TopicImage {
        name: name.to_string(),
        id: Uuid::from_u128(id),
        internal: false,
        partitions: vec![Leadership::single_node(0); 2],
        overrides: settings(&[("retention.ms", "7")]),
    };
    let (mut journal, mut image) = MetadataLog::open(dir.path(), u64::MAX).unwrap();
    let change = |journal: &mut MetadataLog, image: &mut MetadataImage, batch: Vec<MetadataRecord>| {
        image.apply_batch(&batch).unwrap();
        journal.append(&batch, image).unwrap();
    };
    change(&mut journal, &mut image, creation(&topic("a", 1)));
    let stale_log = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
    journal.compact(&image).unwrap();
    assert_eq!(view_of_image(&MetadataLog::open(dir.path(), u64::MAX).unwrap().1), view_of_image(&image));

    // A crash after the new snapshot was renamed into place but before the log was replaced: the
    // old log holds what the snapshot holds, and must not be applied a second time.
    std::fs::write(dir.path().join(LOG_FILE), &stale_log).unwrap();
    let (mut journal, mut replayed) = MetadataLog::open(dir.path(), u64::MAX).unwrap();
    assert_eq!(view_of_image(&replayed), view_of_image(&image));
    change(&mut journal, &mut replayed, creation(&topic("b", 2)));
    drop(journal);
    let (_, reopened) = MetadataLog::open(dir.path(), u64::MAX).unwrap();
    assert_eq!(view_of_image(&reopened), view_of_image(&replayed));
    assert_eq!(reopened.topics().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);

    // A small limit compacts on every change; the log then holds only its start record.
    let (mut journal, mut image) = MetadataLog::open(dir.path(), 1).unwrap();
    change(&mut journal, &mut image, vec![MetadataRecord::RemoveTopic { topic_id: Uuid::from_u128(1) }]);
    let log_bytes = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
    assert_eq!(frame::scan(&log_bytes).unwrap().batches.len(), 1);
    let (_, reopened) = MetadataLog::open(dir.path(), 1).unwrap();
    assert_eq!(reopened.topics().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["b"]);
}

#[test]
fn a_data_directory_with_topics_json_opens_with_the_same_topics() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("meta");
    std::fs::create_dir_all(&meta).unwrap();
    let id = Uuid::from_u128(0x1234);
    let json = format!(
        r#"[{{"name":"orders","id":"{id}","partitions":3,"internal":false,"overrides":{{"retention.ms":"1000"}}}},
            {{"name":"__consumer_offsets","id":"{}","partitions":2,"internal":true}}]"#,
        Uuid::from_u128(0x99)
    );
    std::fs::write(meta.join(legacy::LEGACY_FILE), json).unwrap();
    let config = BrokerConfig::defaults(dir.path());
    let log = LogManager::open(dir.path(), LogOptions::default()).unwrap();
    let first = view_of(&Topics::load(&log, &config, 0).unwrap());
    assert!(!meta.join(legacy::LEGACY_FILE).exists());
    assert!(meta.join(SNAPSHOT_FILE).exists());
    let orders = &first["orders"];
    assert_eq!(
        orders,
        &(id, false, vec![Leadership::single_node(config.settings.node_id); 3], settings(&[("retention.ms", "1000")]))
    );
    assert!(first["__consumer_offsets"].1);
    assert_eq!(view_of(&Topics::load(&log, &config, 0).unwrap()), first);
}

#[test]
fn a_changed_node_id_takes_over_every_partition_in_the_next_leader_epoch() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let config_as = |node: &str| {
        let args = ["strata", "--data-dir", data_dir, "--override", &format!("node.id={node}")];
        BrokerConfig::from_cli(crate::config::Cli::parse_from(args)).unwrap()
    };
    let log = LogManager::open(dir.path(), LogOptions::default()).unwrap();
    let first = config_as("1");
    let topics = Topics::load(&log, &first, 0).unwrap();
    topics.create(&log, &first, new_topic("moved", 2, BTreeMap::new()), 0).unwrap();
    drop(topics);
    let second = config_as("7");
    let moved = Topics::load(&log, &second, 0).unwrap().get("moved").unwrap();
    let expected = Leadership { leader_epoch: 1, partition_epoch: 1, ..Leadership::single_node(7) };
    assert_eq!(moved.leadership, vec![expected.clone(); 2]);
    // The takeover is recorded: a restart with the same node id changes nothing more.
    let again = Topics::load(&log, &second, 0).unwrap().get("moved").unwrap();
    assert_eq!(again.leadership, vec![expected; 2]);
}
