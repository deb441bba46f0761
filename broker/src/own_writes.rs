//! Records the broker writes itself to an ordinary topic (a share group's dead letters, a delay
//! topic's due records): the topic is created on first use (`num.partitions`,
//! `default.replication.factor`), the records go in one batch to its partition of the source
//! partition's number (modulo its partition count), and the write is waited for.

use bytes::BytesMut;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use strata_log::AppendOrigin;

use crate::state::Broker;
use crate::topics::{NewTopic, TopicError};

/// Why the broker's own records could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OwnWriteError {
    #[error("cannot create the topic: {0}")]
    Topic(#[from] TopicError),
    #[error("the topic's partition is not led here: error code {0}")]
    NotHere(i16),
    #[error("cannot write the records: {0}")]
    Write(String),
}

/// Appends `records` (numbered 0..n, `strata_wire::plain_batch`) to topic `target` at the
/// partition of number `index`, and waits until they are written.
pub async fn append_to_topic(
    broker: &Broker,
    (target, index): (&str, i32),
    records: &[Record],
    now_ms: i64,
) -> Result<(), OwnWriteError> {
    let settings = &broker.config.settings;
    let new = NewTopic {
        name: target,
        partitions: settings.num_partitions,
        replication_factor: settings.default_replication_factor,
        overrides: Default::default(),
        internal: false,
    };
    let topic = crate::blocking::run(|| broker.topics.get_or_create(&broker.log, &broker.config, new, now_ms))?;
    let target_index = index % topic.partition_count().max(1);
    let log =
        crate::locate::locate(broker.node_id(), Some(&topic), target_index, -1, 0).map_err(OwnWriteError::NotHere)?;
    let leader_epoch = topic.leadership(target_index).map_or(0, |l| l.leader_epoch);
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut batch, records.iter(), &options)
        .map_err(|e| OwnWriteError::Write(e.to_string()))?;
    let pending = crate::blocking::append(AppendOrigin::Client, &log, batch.freeze(), leader_epoch, now_ms)
        .map_err(|e| OwnWriteError::Write(e.to_string()))?;
    pending.wait().await.map_err(|e| OwnWriteError::Write(e.to_string()))?;
    Ok(())
}
