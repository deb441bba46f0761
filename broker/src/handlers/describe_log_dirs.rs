//! DescribeLogDirs (`kafka-log-dirs.sh`, Admin `describeLogDirs`): the broker's log directory
//! (its absolute path, as Kafka gives it) with the size in bytes of each partition it holds, every
//! topic's or only the requested ones' (an unknown topic or partition is left out, as Kafka leaves
//! it out), offset lag 0 (no future replicas are moved between directories), and from v4 the
//! file system's total and usable bytes. A directory offline after a disk error answers
//! KAFKA_STORAGE_ERROR with no partitions and -1 sizes, as Kafka answers an offline directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::api::ApiSpec;
use crate::reply::{Outcome, RequestContext};
use crate::state::Broker;
use crate::topics::Topic;

/// The key and versions of DescribeLogDirs, from which the route and ApiVersions are built
/// (Kafka 4 removed v0).
pub const API: ApiSpec = ApiSpec::new(ApiKey::DescribeLogDirs, 1, 4);

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: DescribeLogDirsRequest) -> Outcome {
    let dir = std::path::absolute(&broker.config.data_dir).unwrap_or_else(|_| broker.config.data_dir.clone());
    let result = DescribeLogDirsResult::default().with_log_dir(StrBytes::from_string(dir.display().to_string()));
    let result = match broker.log.storage_offline() {
        Some(cause) => {
            tracing::debug!(%cause, "DescribeLogDirs: the log directory is offline");
            result.with_error_code(ResponseError::KafkaStorageError.code()).with_total_bytes(-1).with_usable_bytes(-1)
        }
        None => {
            let (total, usable) = space(&dir);
            result.with_topics(described(broker, req)).with_total_bytes(total).with_usable_bytes(usable)
        }
    };
    ctx.respond(ResponseKind::DescribeLogDirs(DescribeLogDirsResponse::default().with_results(vec![result])))
}

/// The partitions asked for (every one when the request names no topics), by topic.
fn described(broker: &Broker, req: DescribeLogDirsRequest) -> Vec<DescribeLogDirsTopic> {
    let wanted: Option<BTreeMap<String, Vec<i32>>> =
        req.topics.map(|topics| topics.into_iter().map(|t| (t.topic.0.to_string(), t.partitions)).collect());
    let topics: Vec<Arc<Topic>> = match &wanted {
        None => broker.topics.all(),
        Some(wanted) => wanted.keys().filter_map(|name| broker.topics.get(name)).collect(),
    };
    topics
        .into_iter()
        .filter_map(|topic| {
            let indexes: Vec<i32> = match wanted.as_ref().and_then(|w| w.get(&topic.name)) {
                Some(asked) => asked.clone(),
                None => (0..topic.partition_count()).collect(),
            };
            let partitions: Vec<DescribeLogDirsPartition> = indexes
                .into_iter()
                .filter_map(|index| {
                    let size = topic.partition(index)?.size_bytes();
                    Some(
                        DescribeLogDirsPartition::default()
                            .with_partition_index(index)
                            .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                            .with_offset_lag(0),
                    )
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(StrBytes::from_string(topic.name.clone()).into())
                    .with_partitions(partitions)
            })
        })
        .collect()
}

/// The file system's total and usable bytes (Java's `getTotalSpace` and `getUsableSpace`);
/// -1 each when it cannot be read.
fn space(dir: &Path) -> (i64, i64) {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(stat) => {
            let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(stat.fragment_size())).unwrap_or(i64::MAX);
            (bytes(stat.blocks()), bytes(stat.blocks_available()))
        }
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "DescribeLogDirs: cannot read the file system's sizes");
            (-1, -1)
        }
    }
}
