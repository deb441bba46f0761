//! Why an answer was not what W8 asked for: an error code from the broker (which may be worth
//! retrying while the topic settles), or an answer that could not be read at all.

use kafka_protocol::ResponseError;

/// A refused or unreadable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The broker's error code; `None` for an answer that could not be decoded.
    pub code: Option<i16>,
    pub reason: String,
}

impl Refusal {
    /// An answer that does not decode or does not match its request.
    pub fn malformed(reason: String) -> Refusal {
        Refusal { code: None, reason }
    }

    /// `what` was answered with error `code`.
    pub fn code(code: i16, what: String) -> Refusal {
        let name = ResponseError::try_from_code(code).map_or_else(|| "NONE".to_string(), |e| e.to_string());
        Refusal { code: Some(code), reason: format!("{what}: error code {code} ({name})") }
    }

    /// Whether Kafka's protocol calls the error retriable (NOT_LEADER_OR_FOLLOWER for a moment
    /// after a topic is created, for example).
    pub fn retriable(&self) -> bool {
        self.code.and_then(ResponseError::try_from_code).is_some_and(|e| e.is_retriable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_testkit::codes::{INVALID_REQUEST, NOT_LEADER_OR_FOLLOWER};

    #[test]
    fn only_protocol_retriable_codes_are_retriable() {
        let not_leader = Refusal::code(NOT_LEADER_OR_FOLLOWER, "fetch".into());
        assert!(not_leader.retriable());
        assert_eq!(not_leader.reason, "fetch: error code 6 (NotLeaderOrFollower)");
        assert!(!Refusal::code(INVALID_REQUEST, "fetch".into()).retriable());
        assert!(!Refusal::malformed("short".into()).retriable());
    }
}
