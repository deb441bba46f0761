//! The one place an error becomes a Kafka error code: the log's ([`LogError`], [`ReadError`],
//! [`AppendError`]), the topic registry's ([`TopicError`]), the group coordinator's
//! ([`GroupError`], [`StoreError`]), the transaction coordinator's ([`TxnError`], whose codes
//! strata-txn defines, and [`TxnUnavailable`]), share groups' ([`ShareError`], [`HeartbeatError`],
//! [`JoinError`], [`ShareSessionError`]) and those of request data ([`BatchError`],
//! [`MessageSetError`]). Handlers
//! answer with [`ErrorCode::code`] and never match on another crate's error to pick a code; the
//! codes are Kafka's, as a real broker answers the same failure.

use kafka_protocol::ResponseError;
use strata_cluster::PlacementError;
use strata_groups::GroupError;
use strata_log::{AppendError, LogError, ReadError};
use strata_shares::{HeartbeatError, ShareError};
use strata_txn::TxnError;
use strata_wire::batch::BatchError;
use strata_wire::legacy::message_set::MessageSetError;

use crate::fetch_sessions::SessionError;
use crate::groups::StoreError;
use crate::shares::coordinator::CoordinatorError;
use crate::shares::state_log::StateError;
use crate::shares::{JoinError, ShareSessionError};
use crate::topics::TopicError;
use crate::txn::TxnUnavailable;

/// An error that answers a request (or one partition, topic or group of it) with a Kafka error.
pub trait ErrorCode {
    /// The error as Kafka names it.
    fn kafka_error(&self) -> ResponseError;

    /// Its Kafka error code.
    fn code(&self) -> i16 {
        self.kafka_error().code()
    }
}

/// The code of an optional error: 0 (NONE) when there is none.
pub fn code_or_none<E: ErrorCode>(error: Option<E>) -> i16 {
    error.map_or(0, |e| e.code())
}

/// The error for a topic that does not exist: UNKNOWN_TOPIC_ID when the request names topics by
/// id (Produce v13+, Fetch v13+), UNKNOWN_TOPIC_OR_PARTITION when it names them by name.
pub fn unknown_topic(by_id: bool) -> ResponseError {
    if by_id { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition }
}

/// The error a group or offset request gets when the coordinator's records could not be written
/// to `__consumer_offsets` (Kafka maps such storage failures to COORDINATOR_NOT_AVAILABLE, and
/// clients retry).
pub const GROUP_STORE_FAILED: ResponseError = ResponseError::CoordinatorNotAvailable;

impl ErrorCode for ShareError {
    /// A share acknowledgement refused (ShareFetch's `acknowledge_error_code`, ShareAcknowledge).
    fn kafka_error(&self) -> ResponseError {
        match self {
            ShareError::InvalidRecordState { .. } => ResponseError::InvalidRecordState,
            ShareError::InvalidBatch { .. } => ResponseError::InvalidRequest,
        }
    }
}

impl ErrorCode for HeartbeatError {
    /// A ShareGroupHeartbeat refused.
    fn kafka_error(&self) -> ResponseError {
        match self {
            HeartbeatError::InvalidRequest(_) => ResponseError::InvalidRequest,
            HeartbeatError::UnknownMember(_) => ResponseError::UnknownMemberId,
            HeartbeatError::FencedMemberEpoch { .. } => ResponseError::FencedMemberEpoch,
        }
    }
}

impl ErrorCode for JoinError {
    /// A ShareGroupHeartbeat refused.
    fn kafka_error(&self) -> ResponseError {
        match self {
            JoinError::Heartbeat(error) => error.kafka_error(),
            JoinError::Full(_) => ResponseError::GroupMaxSizeReached,
        }
    }
}

impl ErrorCode for ShareSessionError {
    /// A ShareFetch or ShareAcknowledge outside its share session.
    fn kafka_error(&self) -> ResponseError {
        match self {
            ShareSessionError::NotFound => ResponseError::ShareSessionNotFound,
            ShareSessionError::InvalidEpoch => ResponseError::InvalidShareSessionEpoch,
            ShareSessionError::NotAMember => ResponseError::UnknownMemberId,
            ShareSessionError::LimitReached => ResponseError::ShareSessionLimitReached,
        }
    }
}

impl ErrorCode for LogError {
    /// A storage or lifecycle failure of the log.
    fn kafka_error(&self) -> ResponseError {
        match self {
            LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            // The partition was deleted or the broker is stopping: the client looks for the leader again.
            LogError::Closed => ResponseError::NotLeaderOrFollower,
            LogError::InvalidTopic(_) => ResponseError::InvalidTopicException,
            LogError::Io { .. }
            | LogError::WriteFailed { .. }
            | LogError::Writer(_)
            | LogError::TooManyOpenFiles { .. }
            | LogError::Corrupt { .. }
            | LogError::StorageOffline { .. }
            | LogError::DiskFull { .. } => ResponseError::KafkaStorageError,
        }
    }
}

impl ErrorCode for ReadError {
    /// A failed read (Fetch, ListOffsets).
    fn kafka_error(&self) -> ResponseError {
        match self {
            ReadError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            ReadError::Storage(e) => e.kafka_error(),
        }
    }
}

impl ErrorCode for AppendError {
    /// An append the log refused.
    fn kafka_error(&self) -> ResponseError {
        match self {
            AppendError::Corrupt(e) => e.kafka_error(),
            AppendError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
            AppendError::RecordSetTooLarge { .. } => ResponseError::RecordListTooLarge,
            AppendError::Storage(e) => e.kafka_error(),
            // Answered as a success by Produce; listed for completeness.
            AppendError::DuplicateSequence { .. } => ResponseError::DuplicateSequenceNumber,
            AppendError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            AppendError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            AppendError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
            AppendError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
            AppendError::InvalidMarker(_) => ResponseError::InvalidRecord,
            AppendError::ReplicaGap { .. } => ResponseError::OffsetOutOfRange,
        }
    }
}

impl ErrorCode for BatchError {
    /// A record batch that failed validation: a broken checksum or impossible length is
    /// CORRUPT_MESSAGE, anything else Kafka's validator calls INVALID_RECORD. A record set too
    /// short to hold a whole batch is INVALID_RECORD too: Kafka's batch iterator sees no batch.
    fn kafka_error(&self) -> ResponseError {
        match self {
            BatchError::CrcMismatch { .. } | BatchError::BatchLength { .. } => ResponseError::CorruptMessage,
            BatchError::Empty
            | BatchError::TooShort { .. }
            | BatchError::Truncated { .. }
            | BatchError::Magic { .. }
            | BatchError::Compression { .. }
            | BatchError::RecordCount { .. }
            | BatchError::OffsetDelta { .. } => ResponseError::InvalidRecord,
        }
    }
}

impl ErrorCode for MessageSetError {
    /// A legacy (v0/v1) message set that could not be read or converted, as Kafka's `LogValidator`
    /// answers: a broken CRC, length or magic, or a compressed payload that does not decompress, is
    /// CORRUPT_MESSAGE; zstd (which needs magic 2) is UNSUPPORTED_COMPRESSION_TYPE; nested
    /// compression, a wrapper without a value and an empty set are INVALID_RECORD.
    fn kafka_error(&self) -> ResponseError {
        match self {
            MessageSetError::Truncated { .. }
            | MessageSetError::Size { .. }
            | MessageSetError::Magic { .. }
            | MessageSetError::Crc { .. }
            | MessageSetError::Field { .. }
            | MessageSetError::Decompress { .. }
            | MessageSetError::StoredBatch(_) => ResponseError::CorruptMessage,
            // Kafka has no such limit; a message set this large would exceed message.max.bytes.
            MessageSetError::TooLarge { .. } => ResponseError::MessageTooLarge,
            MessageSetError::Codec { codec: 4 } => ResponseError::UnsupportedCompressionType,
            MessageSetError::Codec { .. } => ResponseError::CorruptMessage,
            MessageSetError::Empty
            | MessageSetError::NestedCompression
            | MessageSetError::WrapperWithoutValue
            | MessageSetError::Encode(_) => ResponseError::InvalidRecord,
        }
    }
}

impl ErrorCode for TopicError {
    /// A topic registry refusal, as a real broker answers it.
    fn kafka_error(&self) -> ResponseError {
        match self {
            TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
            TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
            TopicError::InvalidName { .. } | TopicError::Collides { .. } => ResponseError::InvalidTopicException,
            TopicError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
            TopicError::Placement(PlacementError::NonPositivePartitions(_)) => ResponseError::InvalidPartitions,
            TopicError::Placement(_) => ResponseError::InvalidReplicationFactor,
            TopicError::InvalidConfig { .. } | TopicError::UnknownConfig(_) => ResponseError::InvalidConfig,
            TopicError::DeletionDisabled => ResponseError::TopicDeletionDisabled,
            TopicError::Storage(_) => ResponseError::KafkaStorageError,
            TopicError::Quorum(_) => ResponseError::RequestTimedOut,
        }
    }
}

impl ErrorCode for StoreError {
    /// Records of the group coordinator that could not be written: a transactional offset
    /// commit whose producer epoch the log refused is INVALID_PRODUCER_EPOCH (the producer was
    /// fenced meanwhile); anything else is [`GROUP_STORE_FAILED`].
    fn kafka_error(&self) -> ResponseError {
        match self {
            StoreError::Append { source: source @ AppendError::InvalidProducerEpoch { .. }, .. } => {
                source.kafka_error()
            }
            // The partition's leadership moved while the records were written: the client looks
            // the coordinator up again.
            StoreError::NotLeader(_) => ResponseError::NotCoordinator,
            StoreError::NoPartition(_)
            | StoreError::Encode(_)
            | StoreError::Append { .. }
            | StoreError::Write(_)
            | StoreError::Read { .. } => GROUP_STORE_FAILED,
        }
    }
}

impl ErrorCode for StateError {
    /// A share group's state that could not be written: what the store's failure is for the
    /// group coordinator, or KAFKA_STORAGE_ERROR when its topic could not be created. In a
    /// cluster, as Kafka's share-partition maps its persister's errors: a leader fenced by a newer
    /// one is NOT_LEADER_OR_FOLLOWER (the client looks the leader up again), a coordinator that
    /// cannot be reached or refused COORDINATOR_NOT_AVAILABLE (the client retries).
    fn kafka_error(&self) -> ResponseError {
        match self {
            StateError::Store(error) => error.kafka_error(),
            StateError::Topic(_) => ResponseError::KafkaStorageError,
            StateError::Coordinator(ResponseError::FencedLeaderEpoch) => ResponseError::NotLeaderOrFollower,
            StateError::Coordinator(_) => ResponseError::CoordinatorNotAvailable,
        }
    }
}

impl ErrorCode for CoordinatorError {
    /// The share coordinator's answer to ReadShareGroupState and WriteShareGroupState.
    fn kafka_error(&self) -> ResponseError {
        match self {
            CoordinatorError::NotCoordinator(_) => ResponseError::NotCoordinator,
            CoordinatorError::Loading(_) => ResponseError::CoordinatorLoadInProgress,
            CoordinatorError::NoTopic => ResponseError::CoordinatorNotAvailable,
            CoordinatorError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
            CoordinatorError::FencedStateEpoch { .. } => ResponseError::FencedStateEpoch,
            CoordinatorError::Store(error) => error.kafka_error(),
        }
    }
}

impl ErrorCode for GroupError {
    /// A group coordinator error, carried in its reply.
    fn kafka_error(&self) -> ResponseError {
        match self {
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
            GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
            GroupError::UnstableOffsetCommit => ResponseError::UnstableOffsetCommit,
        }
    }
}

impl ErrorCode for TxnError {
    /// A transaction coordinator error, carried in its reply (strata-txn maps it, as Kafka's).
    fn kafka_error(&self) -> ResponseError {
        self.response_error()
    }
}

impl ErrorCode for TxnUnavailable {
    /// The coordinator cannot answer now: loading `__transaction_state` (Kafka's
    /// COORDINATOR_LOAD_IN_PROGRESS), or its records could not be written (Kafka maps such
    /// append failures to COORDINATOR_NOT_AVAILABLE; clients retry both).
    fn kafka_error(&self) -> ResponseError {
        match self {
            TxnUnavailable::Loading => ResponseError::CoordinatorLoadInProgress,
            TxnUnavailable::Store(_) => ResponseError::CoordinatorNotAvailable,
        }
    }
}

impl ErrorCode for SessionError {
    /// An incremental fetch that cannot be served in its session; the client goes back to a full
    /// fetch.
    fn kafka_error(&self) -> ResponseError {
        match self {
            SessionError::NotFound => ResponseError::FetchSessionIdNotFound,
            SessionError::InvalidEpoch => ResponseError::InvalidFetchSessionEpoch,
            SessionError::TopicIdMismatch => ResponseError::FetchSessionTopicIdError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are Kafka's `Errors` enum, written out so that a wrong mapping cannot pass.
    #[test]
    fn codes_are_kafkas() {
        assert_eq!(GroupError::UnknownMemberId.code(), 25);
        assert_eq!(GroupError::IllegalGeneration.code(), 22);
        assert_eq!(GroupError::RebalanceInProgress.code(), 27);
        assert_eq!(GroupError::MemberIdRequired.code(), 79);
        assert_eq!(GroupError::FencedInstanceId.code(), 82);
        assert_eq!(GroupError::CoordinatorNotAvailable.code(), 15);
        assert_eq!(GroupError::UnstableOffsetCommit.code(), 88);
        assert_eq!(code_or_none::<GroupError>(None), 0);
        assert_eq!(LogError::Closed.code(), 6);
        assert_eq!(ReadError::Storage(LogError::Closed).code(), 6);
        assert_eq!(TopicError::AlreadyExists("t".into()).code(), 36);
        assert_eq!(TopicError::DeletionDisabled.code(), 73);
        assert_eq!(BatchError::Empty.code(), 87);
        assert_eq!(MessageSetError::Codec { codec: 4 }.code(), 76);
        assert_eq!(MessageSetError::NestedCompression.code(), 87);
        assert_eq!((unknown_topic(true).code(), unknown_topic(false).code()), (100, 3));
        assert_eq!(GROUP_STORE_FAILED.code(), 15);
        let fenced = AppendError::InvalidProducerEpoch { producer_id: 1, epoch: 0, current: 1 };
        assert_eq!(StoreError::Append { partition: 0, source: fenced }.code(), 47);
        assert_eq!(StoreError::NoPartition(3).code(), 15);
        assert_eq!((TxnUnavailable::Loading.code(), TxnError::ProducerFenced.code()), (14, 90));
    }
}
