//! Kafka's `replication-offset-checkpoint`: the high watermark of every partition this broker
//! holds, written to the data directory every `replica.high.watermark.checkpoint.interval.ms`
//! (atomically, in Kafka's text format) and read back when the broker starts, so a replica that
//! leads right after a restart serves consumers no further than what its in-sync replicas held
//! before (its log end may hold records no other replica has, which a later leader can cut
//! away). A partition the file does not name starts at its log start, as in Kafka. On a single
//! node nothing here runs: every record written is committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::state::Broker;
use crate::topics::Topics;

/// The file's name in the data directory, as Kafka's.
pub const FILE: &str = "replication-offset-checkpoint";
/// The format version Kafka writes.
const VERSION: u32 = 0;

/// High watermarks by topic and partition.
pub type Watermarks = BTreeMap<(String, i32), i64>;

/// Why the file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a replication offset checkpoint: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// Kafka's text form: the version, the number of entries, then `topic partition offset` lines.
pub fn render(watermarks: &Watermarks) -> String {
    let mut text = format!("{VERSION}\n{}\n", watermarks.len());
    for ((topic, partition), offset) in watermarks {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Parses what [`render`] writes (or Kafka does).
pub fn parse(text: &str) -> Result<Watermarks, String> {
    let mut lines = text.lines();
    let version = lines.next().ok_or("empty")?;
    if version.trim() != VERSION.to_string() {
        return Err(format!("version {version}"));
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or("no entry count")?;
    let mut watermarks = Watermarks::new();
    for line in lines.by_ref().take(count) {
        let mut fields = line.split_whitespace();
        let entry = (|| {
            let topic = fields.next()?.to_string();
            let partition: i32 = fields.next()?.parse().ok()?;
            let offset: i64 = fields.next()?.parse().ok()?;
            fields.next().is_none().then_some(((topic, partition), offset))
        })();
        let (key, offset) = entry.ok_or_else(|| format!("bad entry '{line}'"))?;
        watermarks.insert(key, offset);
    }
    if watermarks.len() != count {
        return Err(format!("{} entries, {count} announced", watermarks.len()));
    }
    Ok(watermarks)
}

/// The checkpoint in `data_dir`, empty if there is none.
pub fn read(data_dir: &Path) -> Result<Watermarks, CheckpointError> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|reason| CheckpointError::Malformed { path, reason }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Watermarks::new()),
        Err(source) => Err(CheckpointError::Io { path, source }),
    }
}

/// Bounds every hosted partition's high watermark by the checkpoint (its log start when the
/// checkpoint does not name it): what a broker does with its logs before it takes any role.
pub fn restore(topics: &Topics, watermarks: &Watermarks) {
    for topic in topics.all() {
        for (index, log) in topic.hosted() {
            let saved = watermarks.get(&(topic.name.clone(), index)).copied();
            let bound = saved.unwrap_or(0).max(log.log_start_offset());
            log.set_replicated_high_watermark(bound);
        }
    }
}

/// The high watermark of every partition this broker holds.
pub fn current(topics: &Topics) -> Watermarks {
    let mut watermarks = Watermarks::new();
    for topic in topics.all() {
        for (index, log) in topic.hosted() {
            watermarks.insert((topic.name.clone(), index), log.high_watermark());
        }
    }
    watermarks
}

/// Writes the checkpoint once more as the broker stops (a cluster member), so the next start
/// begins from the latest high watermarks.
pub fn write_final(broker: &Broker) {
    if broker.cluster.is_none() {
        return;
    }
    let path = broker.config.data_dir.join(FILE);
    let text = render(&current(&broker.topics));
    if let Err(error) =
        tokio::task::block_in_place(|| strata_log::durable_file::write_atomically(&path, text.as_bytes()))
    {
        tracing::warn!(%error, "cannot write {FILE}");
    }
}

/// Writes the checkpoint every `replica.high.watermark.checkpoint.interval.ms` while it
/// changes (a cluster member; runs until aborted).
pub async fn run(broker: Arc<Broker>) {
    if broker.cluster.is_none() {
        return;
    }
    let every = u64::try_from(broker.config.settings.replica_high_watermark_checkpoint_interval_ms).unwrap_or(5000);
    let mut tick = tokio::time::interval(Duration::from_millis(every.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut written = Watermarks::new();
    loop {
        tick.tick().await;
        let now = current(&broker.topics);
        if now == written {
            continue;
        }
        let path = broker.config.data_dir.join(FILE);
        let text = render(&now);
        match tokio::task::spawn_blocking(move || strata_log::durable_file::write_atomically(&path, text.as_bytes()))
            .await
        {
            Ok(Ok(())) => written = now,
            Ok(Err(error)) => tracing::warn!(%error, "cannot write {FILE}"),
            Err(error) => tracing::warn!(%error, "{FILE} task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use strata_log::AppendOrigin;
    use strata_testkit::batches::Batch;

    use super::*;
    use crate::config::BrokerConfig;
    use crate::state::{Advertised, now_ms};
    use crate::topics::NewTopic;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restored_checkpoint_bounds_what_each_replica_serves() {
        let dir = tempfile::tempdir().unwrap();
        let advertised = Advertised { host: "127.0.0.1".into(), port: 9092 };
        let broker =
            tokio::task::block_in_place(|| Broker::open(BrokerConfig::defaults(dir.path()), advertised)).unwrap();
        let new =
            NewTopic { name: "t", partitions: 2, replication_factor: 1, overrides: BTreeMap::new(), internal: false };
        let topic =
            tokio::task::block_in_place(|| broker.topics.create(&broker.log, &broker.config, new, now_ms())).unwrap();
        for index in 0..2 {
            let records = Batch::new().numbered(10, None, now_ms()).encode();
            let log = topic.partition(index).unwrap();
            log.append_from(AppendOrigin::Client, records, 0, now_ms()).unwrap().wait().await.unwrap();
        }
        let of_t = || -> Watermarks { current(&broker.topics).into_iter().filter(|((t, _), _)| t == "t").collect() };
        assert_eq!(of_t(), Watermarks::from([(("t".into(), 0), 10), (("t".into(), 1), 10)]));

        // Partition 0 was committed up to 4 when the checkpoint was written; partition 1 is not
        // in it (created after the last checkpoint): it starts at its log start.
        restore(&broker.topics, &Watermarks::from([(("t".into(), 0), 4)]));
        assert_eq!(of_t(), Watermarks::from([(("t".into(), 0), 4), (("t".into(), 1), 0)]));
        assert_eq!(topic.partition(0).unwrap().log_end_offset(), 10, "nothing is cut: only what is served");
    }

    #[test]
    fn kafkas_text_form_reads_back_and_bad_files_are_refused() {
        let watermarks = Watermarks::from([(("a".into(), 0), 5), (("b.c".into(), 11), 0)]);
        let text = render(&watermarks);
        assert_eq!(text, "0\n2\na 0 5\nb.c 11 0\n");
        assert_eq!(parse(&text), Ok(watermarks));
        assert!(parse("1\n0\n").is_err(), "another version");
        assert!(parse("0\n2\na 0 5\n").is_err(), "fewer entries than announced");
        assert!(parse("0\n1\na zero 5\n").is_err(), "not a partition number");
        assert_eq!(parse("0\n0\n"), Ok(Watermarks::new()));
    }
}
