//! The state machine every controller (and later every broker) runs: committed decisions applied
//! to the metadata image, published to whoever serves from it, and the image's snapshot.
//!
//! The image lives in memory and is rebuilt at start from the snapshot file
//! (`quorum-snapshot`: a line of JSON metadata, then the image's records in JSON) plus the
//! committed entries after it, which openraft re-applies from the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, EntryPayload, ErrorVerb, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StoredMembership,
};
use strata_cluster::image::MetadataImage;
use strata_cluster::records::MetadataRecord;
use strata_log::durable_file::write_atomically;
use tokio::sync::watch;

use crate::error::QuorumError;
use crate::types::{Applied, LogId, MetaEntry, MetaRaft, StorageError, storage_error};

pub const SNAPSHOT_FILE: &str = "quorum-snapshot";

type Meta = SnapshotMeta<u64, BasicNode>;
type Membership = StoredMembership<u64, BasicNode>;

/// The image as of an applied offset, as the state machine publishes it.
#[derive(Debug, Clone, Default)]
pub struct MetadataView {
    /// The last applied entry's offset (`None` before the first).
    pub applied: Option<u64>,
    pub image: Arc<MetadataImage>,
}

pub struct MetaStateMachine {
    dir: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    membership: Membership,
    published: watch::Sender<MetadataView>,
}

/// A copy of the state at one applied id, serialized into a snapshot off the state machine.
pub struct MetaSnapshotBuilder {
    dir: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    membership: Membership,
}

impl MetaStateMachine {
    /// The state machine of `dir`, starting from its snapshot if there is one.
    pub fn open(dir: &Path) -> Result<(MetaStateMachine, watch::Receiver<MetadataView>), QuorumError> {
        let (image, last_applied, membership) = match read_snapshot(dir).map_err(QuorumError::Storage)? {
            Some((meta, data)) => {
                (Arc::new(image_of(&data).map_err(QuorumError::Storage)?), meta.last_log_id, meta.last_membership)
            }
            None => (Arc::default(), None, Membership::default()),
        };
        let (published, view) =
            watch::channel(MetadataView { applied: last_applied.map(|l| l.index), image: Arc::clone(&image) });
        Ok((MetaStateMachine { dir: dir.to_path_buf(), image, last_applied, membership, published }, view))
    }

    fn publish(&self) {
        self.published
            .send_replace(MetadataView { applied: self.last_applied.map(|l| l.index), image: Arc::clone(&self.image) });
    }
}

impl RaftStateMachine<MetaRaft> for MetaStateMachine {
    type SnapshotBuilder = MetaSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = MetaEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut answers = Vec::new();
        for entry in entries {
            let mut refused = None;
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(decision) => {
                    let term = entry.log_id.leader_id.term;
                    if let Some(made_in) = decision.controller_term.filter(|made_in| *made_in != term) {
                        let reason =
                            format!("made by the active controller of term {made_in}, committed in term {term}");
                        tracing::warn!(offset = entry.log_id.index, %reason, "metadata decision of a deposed controller refused");
                        refused = Some(reason);
                    } else {
                        // Applied to a copy: a refused decision leaves the image as it was, on every node.
                        let mut next = MetadataImage::clone(&self.image);
                        match next.apply_batch(&decision.records) {
                            Ok(()) => self.image = Arc::new(next),
                            Err(error) => {
                                tracing::warn!(offset = entry.log_id.index, %error, "metadata decision refused by the image");
                                refused = Some(error.to_string());
                            }
                        }
                    }
                }
                EntryPayload::Membership(membership) => {
                    self.membership = Membership::new(Some(entry.log_id), membership);
                }
            }
            self.last_applied = Some(entry.log_id);
            answers.push(Applied { offset: entry.log_id.index, refused });
        }
        self.publish();
        Ok(answers)
    }

    async fn get_snapshot_builder(&mut self) -> MetaSnapshotBuilder {
        MetaSnapshotBuilder {
            dir: self.dir.clone(),
            image: Arc::clone(&self.image),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Vec<u8>>, StorageError> {
        Ok(Box::default())
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Vec<u8>>) -> Result<(), StorageError> {
        let image = image_of(&snapshot).map_err(|e| storage_error(ErrorVerb::Read, e))?;
        write_snapshot(&self.dir, meta, &snapshot).map_err(|e| storage_error(ErrorVerb::Write, e))?;
        self.image = Arc::new(image);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<MetaRaft>>, StorageError> {
        let current = read_snapshot(&self.dir).map_err(|e| storage_error(ErrorVerb::Read, e))?;
        Ok(current.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(data) }))
    }
}

impl RaftSnapshotBuilder<MetaRaft> for MetaSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<MetaRaft>, StorageError> {
        let data = serde_json::to_vec(&self.image.snapshot()).map_err(|e| storage_error(ErrorVerb::Write, e))?;
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{:020}-{:010}", id.index, id.leader_id.term),
            None => "empty".to_string(),
        };
        let meta = Meta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id };
        write_snapshot(&self.dir, &meta, &data).map_err(|e| storage_error(ErrorVerb::Write, e))?;
        Ok(Snapshot { meta, snapshot: Box::new(data) })
    }
}

/// The image a snapshot's data replays to.
fn image_of(data: &[u8]) -> Result<MetadataImage, String> {
    let batches: Vec<Vec<MetadataRecord>> =
        serde_json::from_slice(data).map_err(|e| format!("unreadable snapshot: {e}"))?;
    let mut image = MetadataImage::default();
    for batch in &batches {
        image.apply_batch(batch).map_err(|e| format!("snapshot does not replay: {e}"))?;
    }
    Ok(image)
}

fn write_snapshot(dir: &Path, meta: &Meta, data: &[u8]) -> Result<(), String> {
    let mut bytes = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    bytes.extend_from_slice(data);
    let path = dir.join(SNAPSHOT_FILE);
    write_atomically(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_snapshot(dir: &Path) -> Result<Option<(Meta, Vec<u8>)>, String> {
    let path = dir.join(SNAPSHOT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let unreadable = |why: String| format!("{} is not a snapshot: {why}", path.display());
    let split = bytes.iter().position(|b| *b == b'\n').ok_or_else(|| unreadable("no metadata line".into()))?;
    let meta: Meta = serde_json::from_slice(&bytes[..split]).map_err(|e| unreadable(e.to_string()))?;
    Ok(Some((meta, bytes[split + 1..].to_vec())))
}
