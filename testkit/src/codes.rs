//! Kafka's error codes by name, as the tests check them: each is the `kafka-protocol` crate's
//! code for that error, never an integer written by hand.

use kafka_protocol::ResponseError as E;

pub const NONE: i16 = 0;
pub const UNKNOWN_SERVER_ERROR: i16 = E::UnknownServerError.code();
pub const OFFSET_OUT_OF_RANGE: i16 = E::OffsetOutOfRange.code();
pub const CORRUPT_MESSAGE: i16 = E::CorruptMessage.code();
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = E::UnknownTopicOrPartition.code();
pub const MESSAGE_TOO_LARGE: i16 = E::MessageTooLarge.code();
pub const NOT_LEADER_OR_FOLLOWER: i16 = E::NotLeaderOrFollower.code();
pub const COORDINATOR_NOT_AVAILABLE: i16 = E::CoordinatorNotAvailable.code();
pub const NOT_COORDINATOR: i16 = E::NotCoordinator.code();
pub const INVALID_TOPIC_EXCEPTION: i16 = E::InvalidTopicException.code();
pub const RECORD_LIST_TOO_LARGE: i16 = E::RecordListTooLarge.code();
pub const INVALID_REQUIRED_ACKS: i16 = E::InvalidRequiredAcks.code();
pub const ILLEGAL_GENERATION: i16 = E::IllegalGeneration.code();
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = E::InconsistentGroupProtocol.code();
pub const INVALID_GROUP_ID: i16 = E::InvalidGroupId.code();
pub const UNKNOWN_MEMBER_ID: i16 = E::UnknownMemberId.code();
pub const INVALID_SESSION_TIMEOUT: i16 = E::InvalidSessionTimeout.code();
pub const REBALANCE_IN_PROGRESS: i16 = E::RebalanceInProgress.code();
pub const UNSUPPORTED_VERSION: i16 = E::UnsupportedVersion.code();
pub const TOPIC_ALREADY_EXISTS: i16 = E::TopicAlreadyExists.code();
pub const REQUEST_TIMED_OUT: i16 = E::RequestTimedOut.code();
pub const INVALID_PARTITIONS: i16 = E::InvalidPartitions.code();
pub const INVALID_REPLICATION_FACTOR: i16 = E::InvalidReplicationFactor.code();
pub const INVALID_REPLICA_ASSIGNMENT: i16 = E::InvalidReplicaAssignment.code();
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = E::NoReassignmentInProgress.code();
pub const INVALID_CONFIG: i16 = E::InvalidConfig.code();
pub const INVALID_REQUEST: i16 = E::InvalidRequest.code();
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = E::OutOfOrderSequenceNumber.code();
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = E::DuplicateSequenceNumber.code();
pub const INVALID_PRODUCER_EPOCH: i16 = E::InvalidProducerEpoch.code();
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = E::TransactionalIdAuthorizationFailed.code();
pub const INVALID_TXN_STATE: i16 = E::InvalidTxnState.code();
pub const KAFKA_STORAGE_ERROR: i16 = E::KafkaStorageError.code();
pub const NON_EMPTY_GROUP: i16 = E::NonEmptyGroup.code();
pub const GROUP_ID_NOT_FOUND: i16 = E::GroupIdNotFound.code();
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = E::FetchSessionIdNotFound.code();
pub const INVALID_FETCH_SESSION_EPOCH: i16 = E::InvalidFetchSessionEpoch.code();
pub const FETCH_SESSION_TOPIC_ID_ERROR: i16 = E::FetchSessionTopicIdError.code();
pub const TOPIC_DELETION_DISABLED: i16 = E::TopicDeletionDisabled.code();
pub const MEMBER_ID_REQUIRED: i16 = E::MemberIdRequired.code();
pub const UNKNOWN_LEADER_EPOCH: i16 = E::UnknownLeaderEpoch.code();
pub const UNSTABLE_OFFSET_COMMIT: i16 = E::UnstableOffsetCommit.code();
pub const INVALID_RECORD: i16 = E::InvalidRecord.code();
pub const UNKNOWN_TOPIC_ID: i16 = E::UnknownTopicId.code();
pub const MISMATCHED_ENDPOINT_TYPE: i16 = E::MismatchedEndpointType.code();
pub const UNSUPPORTED_ENDPOINT_TYPE: i16 = E::UnsupportedEndpointType.code();
// Transactions.
pub const NOT_ENOUGH_REPLICAS: i16 = E::NotEnoughReplicas.code();
pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = E::EligibleLeadersNotAvailable.code();
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = E::CoordinatorLoadInProgress.code();
pub const INVALID_PRODUCER_ID_MAPPING: i16 = E::InvalidProducerIdMapping.code();
pub const INVALID_TRANSACTION_TIMEOUT: i16 = E::InvalidTransactionTimeout.code();
pub const CONCURRENT_TRANSACTIONS: i16 = E::ConcurrentTransactions.code();
pub const OPERATION_NOT_ATTEMPTED: i16 = E::OperationNotAttempted.code();
pub const PRODUCER_FENCED: i16 = E::ProducerFenced.code();
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = E::TransactionalIdNotFound.code();
pub const TRANSACTION_ABORTABLE: i16 = E::TransactionAbortable.code();

pub const FENCED_MEMBER_EPOCH: i16 = E::FencedMemberEpoch.code();
pub const GROUP_MAX_SIZE_REACHED: i16 = E::GroupMaxSizeReached.code();
pub const INVALID_RECORD_STATE: i16 = E::InvalidRecordState.code();
pub const INVALID_SHARE_SESSION_EPOCH: i16 = E::InvalidShareSessionEpoch.code();
pub const SHARE_SESSION_NOT_FOUND: i16 = E::ShareSessionNotFound.code();

#[cfg(test)]
mod tests {
    use super::*;

    /// A few codes against Kafka's `Errors` table, so a renamed variant cannot shift them.
    #[test]
    fn codes_are_kafkas() {
        assert_eq!(
            [
                UNKNOWN_TOPIC_OR_PARTITION,
                INVALID_REQUEST,
                KAFKA_STORAGE_ERROR,
                UNKNOWN_TOPIC_ID,
                UNSUPPORTED_ENDPOINT_TYPE
            ],
            [3, 42, 56, 100, 115]
        );
    }
}
