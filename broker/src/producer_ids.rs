//! The producer id allocator. Ids come from blocks of [`PRODUCER_ID_BLOCK`]: on a single node
//! reserved in `<data_dir>/meta/producer_id_block` (the end of the last reserved block, written
//! and fsynced before any id of the block is handed out); in a cluster committed to this broker
//! through the metadata quorum (`ProducerIdBlock`, refused when another broker took those ids
//! first), as Kafka's controller hands out blocks. So an id is never handed out twice, even across
//! brokers, restarts or a crash; ids left in a block at shutdown are skipped, as Kafka's block
//! allocation skips them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use strata_cluster::records::MetadataRecord;
use strata_quorum::{ProposeError, Quorum};

/// Producer ids reserved at a time.
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// File under `<data_dir>/meta/` holding the end of the last reserved block.
const BLOCK_FILE: &str = "producer_id_block";

/// The producer id allocator of one data directory or cluster member. Loaded on first use.
#[derive(Debug)]
pub struct ProducerIds {
    source: Source,
    block: Mutex<Option<Block>>,
}

/// Where blocks come from.
enum Source {
    File(PathBuf),
    Quorum { quorum: Arc<Quorum>, node: i32 },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path) => f.debug_tuple("File").field(path).finish(),
            Source::Quorum { node, .. } => f.debug_struct("Quorum").field("node", node).finish(),
        }
    }
}

/// Ids `next..end` are reserved on disk and not yet handed out.
#[derive(Debug, Clone, Copy)]
struct Block {
    next: i64,
    end: i64,
}

impl ProducerIds {
    pub fn new(data_dir: &Path) -> ProducerIds {
        ProducerIds { source: Source::File(data_dir.join("meta").join(BLOCK_FILE)), block: Mutex::new(None) }
    }

    /// The allocator of cluster member `node`, whose blocks the quorum commits.
    pub fn cluster(quorum: Arc<Quorum>, node: i32) -> ProducerIds {
        ProducerIds { source: Source::Quorum { quorum, node }, block: Mutex::new(None) }
    }

    /// A producer id never handed out before. Blocks on a small fsync once per block.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut guard = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        let mut block = match (*guard, &self.source) {
            (Some(block), _) => block,
            (None, Source::File(path)) => {
                let end = reserved_end(path)?;
                Block { next: end, end }
            }
            (None, Source::Quorum { .. }) => Block { next: 0, end: 0 },
        };
        if block.next >= block.end {
            block = match &self.source {
                Source::File(path) => {
                    let end = block.next + PRODUCER_ID_BLOCK;
                    persist(path, end)?;
                    Block { next: block.next, end }
                }
                Source::Quorum { quorum, node } => committed_block(quorum, *node)?,
            };
        }
        let id = block.next;
        block.next += 1;
        *guard = Some(block);
        Ok(id)
    }
}

fn reserved_end(path: &Path) -> std::io::Result<i64> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Records `end` durably: write a temporary file, fsync, rename over, fsync the directory.
fn persist(path: &Path, end: i64) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let staged = path.with_extension("tmp");
    let mut file = std::fs::File::create(&staged)?;
    writeln!(file, "{end}")?;
    file.sync_all()?;
    std::fs::rename(&staged, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A block committed to `node` by the quorum, starting where the image says the free ids start;
/// when another broker's block got there first, again from the newer image.
fn committed_block(quorum: &Quorum, node: i32) -> std::io::Result<Block> {
    let taken = crate::blocking::wait(async {
        loop {
            let start = quorum.view().borrow().image.next_producer_id();
            let end = start + PRODUCER_ID_BLOCK;
            let record = MetadataRecord::ProducerIdBlock { broker_id: node, start, end };
            match quorum.propose(vec![record]).await {
                Ok(_) => return Ok(Block { next: start, end }),
                Err(ProposeError::Refused { offset, .. }) => {
                    quorum.wait_applied(offset, std::time::Duration::from_secs(30)).await?;
                }
                Err(error) => return Err(error),
            }
        }
    });
    match taken {
        Some(Ok(block)) => Ok(block),
        Some(Err(error)) => Err(std::io::Error::other(format!("no producer id block from the quorum: {error}"))),
        None => Err(std::io::Error::other("producer ids of a cluster are allocated on the broker's runtime")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::new(dir.path());
        let first: Vec<i64> = (0..3).map(|_| ids.allocate().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(ids);
        let reopened = ProducerIds::new(dir.path());
        let next = reopened.allocate().unwrap();
        assert_eq!(next, PRODUCER_ID_BLOCK, "a reopened allocator starts after the reserved block");
        for _ in 0..PRODUCER_ID_BLOCK {
            reopened.allocate().unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join("meta").join(BLOCK_FILE)).unwrap();
        assert_eq!(text.trim(), (3 * PRODUCER_ID_BLOCK).to_string());
    }

    #[test]
    fn a_corrupt_block_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("meta")).unwrap();
        std::fs::write(dir.path().join("meta").join(BLOCK_FILE), "garbage").unwrap();
        assert!(ProducerIds::new(dir.path()).allocate().is_err());
    }
}
