//! The states of a classic group, with Kafka's names (DescribeGroups and ListGroups show them).
//!
//! ```text
//!   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
//!     ▲                 ▲      │ (no member left)                               │ leader's SyncGroup
//!     └─────────────────┼──────┘                                                ▼
//!                       └──── join with new metadata, leave, session expiry ── Stable
//!   Empty ──delete / offsets expired──▶ Dead (removed)
//! ```

/// A group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; committed offsets may remain.
    Empty,
    /// Waiting for members to (re)join before a new generation starts.
    PreparingRebalance,
    /// A new generation started; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed (or being removed); also what DescribeGroups shows for an unknown group.
    Dead,
}

impl GroupState {
    /// All states, in Kafka's order.
    pub const ALL: [GroupState; 5] = [
        GroupState::PreparingRebalance,
        GroupState::CompletingRebalance,
        GroupState::Stable,
        GroupState::Dead,
        GroupState::Empty,
    ];

    /// Kafka's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a state name case-insensitively (ListGroups filters are, in Kafka).
    pub fn parse(name: &str) -> Option<GroupState> {
        GroupState::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for GroupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in GroupState::ALL {
            assert_eq!(GroupState::parse(s.as_str()), Some(s));
        }
        assert_eq!(GroupState::parse("stable"), Some(GroupState::Stable));
        assert_eq!(GroupState::parse("Unknown"), None);
    }
}
