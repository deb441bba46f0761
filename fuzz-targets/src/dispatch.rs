//! The `request_dispatch` target: one request frame (the bytes after the 4-byte size) decoded,
//! routed by `strata_broker::dispatch::begin` and run by its handler against a real broker, whose
//! response is then encoded as the connection would write it.
//!
//! The broker is opened once, with every default, in a
//! temporary directory, and serves every input of a run (state carries over, as it does for a
//! broker serving many clients). A handler may wait (a long-polling Fetch): the target gives it
//! [`HANDLER_WAIT_MAX`] and then drops it, as a connection that closes does. Requests that would
//! create many partitions are left out: creating a partition costs files and memory by design,
//! and the fuzzer would otherwise spend its time there rather than in decoding.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;
use strata_broker::config::BrokerConfig;
use strata_broker::reply::{Chunk, Outcome};
use strata_broker::state::Broker;

/// How long one input's handler may run before it is dropped.
const HANDLER_WAIT_MAX: Duration = Duration::from_millis(200);
/// Most partitions an input may ask to create (in total, across its topics).
const PARTITIONS_CREATED_MAX: i64 = 8;

struct FuzzBroker {
    runtime: tokio::runtime::Runtime,
    broker: Arc<Broker>,
    // Held so the data directory lives as long as the broker.
    _dir: tempfile::TempDir,
}

fn fuzz_broker() -> Option<&'static FuzzBroker> {
    static BROKER: OnceLock<Option<FuzzBroker>> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            let dir = tempfile::tempdir().ok()?;
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().ok()?;
            let config = BrokerConfig::defaults(&dir.path().join("data"));
            let started = runtime.block_on(strata_broker::start(config)).ok()?;
            Some(FuzzBroker { runtime, broker: started.broker, _dir: dir })
        })
        .as_ref()
}

/// Partitions a CreateTopics or CreatePartitions request asks to create, if it decodes.
fn partitions_created(frame: &strata_wire::header::RequestFrame) -> i64 {
    let Ok(body) = strata_wire::header::decode_request_body(frame.api_key, frame.api_version(), frame.body.clone())
    else {
        return 0;
    };
    match body.request {
        RequestKind::CreateTopics(r) => {
            r.topics.iter().map(|t| i64::from(t.num_partitions.max(1)).max(t.assignments.len() as i64)).sum()
        }
        RequestKind::CreatePartitions(r) => r.topics.iter().map(|t| i64::from(t.count.max(0))).sum(),
        _ => 0,
    }
}

/// See the module documentation.
pub fn request_dispatch(data: &[u8]) {
    // First, so that the broker is opened on the first call whatever its input.
    let Some(fuzz) = fuzz_broker() else { return };
    let Ok(frame) = strata_wire::header::decode_request_frame(Bytes::copy_from_slice(data)) else { return };
    if partitions_created(&frame) > PARTITIONS_CREATED_MAX {
        return;
    }
    let pending = strata_broker::dispatch::begin(Arc::clone(&fuzz.broker), frame, None);
    let outcome = fuzz.runtime.block_on(async { tokio::time::timeout(HANDLER_WAIT_MAX, pending).await });
    if let Ok(Outcome::Reply(chunks)) = outcome {
        let bytes: usize = chunks
            .iter()
            .map(|c| match c {
                Chunk::Bytes(b) => b.len(),
                Chunk::File(range) => range.len as usize,
            })
            .sum();
        assert!(bytes >= 8, "a response frame holds at least its size and correlation id");
    }
}
