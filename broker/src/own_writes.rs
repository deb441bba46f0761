//! Records the broker writes itself to an ordinary topic (a share group's dead letters, a delay
//! topic's due records): the topic is created on first use (`num.partitions`,
//! `default.replication.factor`), the records go in one batch to its partition of the source
//! partition's number (modulo its partition count), and the write is waited for: in a cluster
//! until the partition's in-sync replicas hold it, sent as a Produce (acks=all) to the partition's
//! leader when that is another broker.

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use strata_log::AppendOrigin;

use crate::groups::CoordinatorAppend;
use crate::state::Broker;
use crate::topics::{NewTopic, TopicError};

/// The Produce version sent to another broker leading the partition.
const PRODUCE_VERSION: i16 = 9;
/// How long that broker may take to have the in-sync replicas hold the records.
const PEER_TIMEOUT_MS: i32 = 10_000;
/// The error when no broker leads the partition now.
const NOT_LEADER: i16 = ResponseError::NotLeaderOrFollower.code();

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
    let mut batch = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut batch, records.iter(), &options)
        .map_err(|e| OwnWriteError::Write(e.to_string()))?;
    let log = match crate::locate::locate(broker.node_id(), Some(&topic), target_index, -1, 0) {
        Ok(log) => log,
        Err(_) if broker.cluster.is_some() => return produce_at_leader(broker, (target, target_index), batch).await,
        Err(code) => return Err(OwnWriteError::NotHere(code)),
    };
    let leader_epoch = topic.leadership(target_index).map_or(0, |l| l.leader_epoch);
    let pending = crate::blocking::append(AppendOrigin::Client, &log, batch.freeze(), leader_epoch, now_ms)
        .map_err(|e| OwnWriteError::Write(e.to_string()))?;
    // In a cluster, written once the in-sync replicas hold it (acks=all).
    let leader = broker.replication.leading(topic.id, target_index);
    CoordinatorAppend::new(pending, leader).wait().await.map_err(|e| OwnWriteError::Write(e.to_string()))
}

/// In a cluster, where another broker leads the partition: the records go there as a Produce
/// with acks=all, as any client's would.
async fn produce_at_leader(
    broker: &Broker,
    (target, index): (&str, i32),
    batch: BytesMut,
) -> Result<(), OwnWriteError> {
    let leader = broker.topics.get(target).and_then(|t| t.leadership(index).map(|l| l.leader));
    let peer = leader.and_then(|id| broker.broker_endpoint(id)).ok_or(OwnWriteError::NotHere(NOT_LEADER))?;
    let partition = PartitionProduceData::default().with_index(index).with_records(Some(batch.freeze()));
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(target.to_string())))
        .with_partition_data(vec![partition]);
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(PEER_TIMEOUT_MS).with_topic_data(vec![topic]);
    let timeout = std::time::Duration::from_millis(u64::from(PEER_TIMEOUT_MS.unsigned_abs()) + 1000);
    let response = broker
        .peers
        .call(&peer, PRODUCE_VERSION, &request, timeout)
        .await
        .map_err(|e| OwnWriteError::Write(format!("cannot reach the leader, broker {}: {e}", peer.id)))?;
    let code = response.responses.iter().flat_map(|t| &t.partition_responses).map(|p| p.error_code).find(|&c| c != 0);
    match code {
        None => Ok(()),
        Some(code) => Err(OwnWriteError::NotHere(code)),
    }
}
