//! The controllers' Raft RPCs on the wire: a 4-byte big-endian length, then the message in JSON.
//! A frame larger than [`FRAME_BYTES_MAX`] is refused before it is read, so a stray client on the
//! controller port costs nothing.

use openraft::error::{Fatal, RaftError};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::{BasicNode, SnapshotMeta};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::ProposeError;
use crate::member::QuorumDescription;
use crate::types::{Applied, Decision, MetaRaft, Vote};

/// The largest frame either side accepts (a snapshot travels in one).
pub const FRAME_BYTES_MAX: u32 = 256 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    AppendEntries(AppendEntriesRequest<MetaRaft>),
    Vote(VoteRequest<u64>),
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta<u64, BasicNode>,
        data: Vec<u8>,
    },
    /// A member that does not lead asks the leader to commit a decision for it.
    Propose(Decision),
    /// A broker's heartbeat, for the leader's session tracking.
    Heartbeat {
        broker_id: i32,
    },
    /// How far each voter has come, as the leader knows it.
    Describe,
    /// A broker-only node asks to follow the log as an observer, reached at `address`.
    AddObserver {
        node_id: u64,
        address: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Snapshot(Result<SnapshotResponse<u64>, Fatal<u64>>),
    Propose(Result<Applied, ProposeError>),
    Heartbeat(Result<(), ProposeError>),
    Describe(Result<QuorumDescription, ProposeError>),
    AddObserver(Result<(), ProposeError>),
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(out: &mut W, message: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len()).ok().filter(|n| *n <= FRAME_BYTES_MAX).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a {}-byte frame is too large", body.len()))
    })?;
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame).await?;
    out.flush().await
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(input: &mut R) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > FRAME_BYTES_MAX {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a {len}-byte frame is too large")));
    }
    let mut body = vec![0u8; len as usize];
    input.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map(Some).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_round_trips_and_an_oversized_one_is_refused() {
        let vote = VoteRequest::new(Vote::new(4, 2), None);
        let mut buf = Vec::new();
        write_frame(&mut buf, &RaftRequest::Vote(vote.clone())).await.unwrap();
        let back: Option<RaftRequest> = read_frame(&mut buf.as_slice()).await.unwrap();
        assert!(matches!(back, Some(RaftRequest::Vote(v)) if v == vote));

        let huge = (FRAME_BYTES_MAX + 1).to_be_bytes();
        let refused = read_frame::<_, RaftRequest>(&mut huge.as_slice()).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::InvalidData);

        let none: Option<RaftRequest> = read_frame(&mut [].as_slice()).await.unwrap();
        assert!(none.is_none());
    }
}
