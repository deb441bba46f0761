//! The producer id allocator of a data directory. Ids come from blocks of [`PRODUCER_ID_BLOCK`]
//! reserved in `<data_dir>/meta/producer_id_block` (the end of the last reserved block, written
//! and fsynced before any id of the block is handed out), so an id is never handed out twice,
//! even across restarts or a crash; ids left in a block at shutdown are skipped, as Kafka's block
//! allocation skips them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Producer ids reserved at a time.
pub const PRODUCER_ID_BLOCK: i64 = 1000;
/// File under `<data_dir>/meta/` holding the end of the last reserved block.
const BLOCK_FILE: &str = "producer_id_block";

/// The producer id allocator of one data directory. Loaded on first use.
#[derive(Debug)]
pub struct ProducerIds {
    path: PathBuf,
    block: Mutex<Option<Block>>,
}

/// Ids `next..end` are reserved on disk and not yet handed out.
#[derive(Debug, Clone, Copy)]
struct Block {
    next: i64,
    end: i64,
}

impl ProducerIds {
    pub fn new(data_dir: &Path) -> ProducerIds {
        ProducerIds { path: data_dir.join("meta").join(BLOCK_FILE), block: Mutex::new(None) }
    }

    /// A producer id never handed out before. Blocks on a small fsync once per block.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut guard = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        let mut block = match *guard {
            Some(block) => block,
            None => {
                let end = self.reserved_end()?;
                Block { next: end, end }
            }
        };
        if block.next >= block.end {
            block.end = block.next + PRODUCER_ID_BLOCK;
            self.persist(block.end)?;
        }
        let id = block.next;
        block.next += 1;
        *guard = Some(block);
        Ok(id)
    }

    fn reserved_end(&self) -> std::io::Result<i64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Records `end` durably: write a temporary file, fsync, rename over, fsync the directory.
    fn persist(&self, end: i64) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let staged = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&staged)?;
        writeln!(file, "{end}")?;
        file.sync_all()?;
        std::fs::rename(&staged, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
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
