//! Share groups (KIP-932) on this broker: each group's members ([`strata_shares::ShareGroup`]),
//! each group's view of each partition this broker leads ([`strata_shares::SharePartition`]),
//! and each member's share session (the partitions its ShareFetch requests cover, and the
//! epoch its next ShareFetch or ShareAcknowledge must carry). All behind one lock; no I/O is
//! done under it (a fetch reads the log between two short visits).
//!
//! Not built yet: the state is in memory only (Kafka keeps it in `__share_group_state` through
//! its share coordinator), so a restart starts every group afresh at its `share.auto.offset.reset`
//! point; a share group is known to this broker only (not in a cluster).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use strata_shares::{
    AckType, Acquired, HeartbeatError, HeartbeatReply, MemberView, RetryBackoff, ShareConfig, ShareError, ShareGroup,
    SharePartition,
};
use uuid::Uuid;

/// Kafka's `group.share.session.timeout.ms`.
pub const SESSION_TIMEOUT_MS: i64 = 45_000;
/// Kafka's `group.share.heartbeat.interval.ms`.
pub const HEARTBEAT_INTERVAL_MS: i32 = 5_000;
/// Kafka's `group.share.max.size`: members per share group.
pub const MEMBERS_MAX: usize = 200;
/// Kafka's `group.share.max.groups`: share groups per broker.
pub const GROUPS_MAX: usize = 10;

/// Why a ShareGroupHeartbeat is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Heartbeat(#[from] HeartbeatError),
    /// GROUP_MAX_SIZE_REACHED: the group has `group.share.max.size` members, or the broker
    /// `group.share.max.groups` groups.
    #[error("{0}")]
    Full(&'static str),
}

/// A partition by topic id.
pub type PartitionKey = (Uuid, i32);

/// Why a share session request is refused (the ShareFetch or ShareAcknowledge top-level error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShareSessionError {
    /// SHARE_SESSION_NOT_FOUND.
    #[error("no share session for this member")]
    NotFound,
    /// INVALID_SHARE_SESSION_EPOCH.
    #[error("the share session expects another epoch")]
    InvalidEpoch,
    /// UNKNOWN_MEMBER_ID: a session opened by a member the group does not have.
    #[error("the member is not in the share group")]
    NotAMember,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next request must carry.
    next_epoch: i32,
    partitions: BTreeSet<PartitionKey>,
}

/// Who a member is, as ShareGroupDescribe shows it (from its heartbeats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    pub client_host: String,
    pub rack: Option<String>,
}

/// What a member's ShareGroupHeartbeat says.
#[derive(Debug, Clone)]
pub struct MemberBeat<'a> {
    pub member_id: &'a str,
    /// 0 joins, -1 leaves, otherwise the member's current epoch.
    pub member_epoch: i32,
    /// Its topics; `None` when unchanged.
    pub subscribed: Option<&'a [String]>,
    pub client: ClientInfo,
}

/// A share group as ShareGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct DescribedShareGroup {
    pub state: &'static str,
    pub epoch: i32,
    pub members: Vec<(MemberView, ClientInfo)>,
}

#[derive(Debug, Default)]
struct Inner {
    groups: HashMap<String, ShareGroup>,
    clients: HashMap<(String, String), ClientInfo>,
    partitions: HashMap<(String, PartitionKey), SharePartition>,
    sessions: HashMap<(String, String), Session>,
}

/// Every share group of this broker.
#[derive(Debug)]
pub struct Shares {
    inner: Mutex<Inner>,
    config: ShareConfig,
}

impl Shares {
    /// No groups yet, with the broker's `group.share.*` settings.
    pub fn new(settings: &crate::settings::Settings) -> Shares {
        let config = ShareConfig {
            delivery_count_limit: settings.group_share_delivery_count_limit,
            lock_duration_ms: settings.group_share_record_lock_duration_ms,
            max_in_flight: settings.group_share_partition_max_record_locks,
            retry_backoff: RetryBackoff {
                initial_ms: settings.share_retry_backoff_ms,
                multiplier: settings.share_retry_backoff_multiplier,
                max_ms: settings.share_retry_backoff_max_ms,
            },
        };
        Shares { inner: Mutex::new(Inner::default()), config }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long an acquired record stays locked (ShareFetch's `acquisition_lock_timeout_ms`).
    pub fn lock_duration_ms(&self) -> i64 {
        self.config.lock_duration_ms
    }

    /// A ShareGroupHeartbeat. Members that left or went silent give back what they hold; a new
    /// member beyond the group's or the broker's limit is refused.
    pub fn heartbeat(
        &self,
        group_id: &str,
        beat: MemberBeat<'_>,
        partitions: impl Fn(&str) -> Option<i32> + Copy,
        now_ms: i64,
    ) -> Result<HeartbeatReply, JoinError> {
        let MemberBeat { member_id, member_epoch, subscribed, client } = beat;
        let mut inner = self.lock();
        inner.groups.retain(|_, g| !g.is_empty());
        if !inner.groups.contains_key(group_id) && inner.groups.len() >= GROUPS_MAX {
            return Err(JoinError::Full("The share group limit (group.share.max.groups) has been reached."));
        }
        let group = inner.groups.entry(group_id.to_string()).or_default();
        let mut gone = group.expire(now_ms, SESSION_TIMEOUT_MS, partitions);
        let joining = member_epoch == 0 && !group.members().any(|m| m == member_id);
        if joining && group.members().count() >= MEMBERS_MAX {
            return Err(JoinError::Full("The share group has reached its maximum size (group.share.max.size)."));
        }
        let reply = group.heartbeat(member_id, member_epoch, subscribed, partitions, now_ms).map_err(JoinError::from);
        if member_epoch == -1 {
            gone.push(member_id.to_string());
        }
        for member in &gone {
            inner.release_member(group_id, member, now_ms);
        }
        if reply.is_ok() && member_epoch != -1 {
            inner.clients.insert((group_id.to_string(), member_id.to_string()), client);
        }
        reply
    }

    /// `group_id` as ShareGroupDescribe shows it, if it is a share group here.
    pub fn describe(&self, group_id: &str) -> Option<DescribedShareGroup> {
        let inner = self.lock();
        let group = inner.groups.get(group_id)?;
        let members = group
            .describe()
            .into_iter()
            .map(|m| {
                let client =
                    inner.clients.get(&(group_id.to_string(), m.member_id.clone())).cloned().unwrap_or_default();
                (m, client)
            })
            .collect();
        Some(DescribedShareGroup { state: group.state(), epoch: group.epoch(), members })
    }

    /// Every share group here with its state, by id.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        let inner = self.lock();
        let mut groups: Vec<(String, &'static str)> =
            inner.groups.iter().map(|(id, g)| (id.clone(), g.state())).collect();
        groups.sort();
        groups
    }

    /// Opens, continues or (epoch -1) closes `member_id`'s share session; `adding` joins it,
    /// `forgetting` leaves it. Returns the session's partitions (empty once closed). Only a
    /// member of the group opens one (so sessions are bounded by the members).
    pub fn session(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        adding: &[PartitionKey],
        forgetting: &[PartitionKey],
        now_ms: i64,
    ) -> Result<Vec<PartitionKey>, ShareSessionError> {
        let mut inner = self.lock();
        let key = (group_id.to_string(), member_id.to_string());
        match epoch {
            0 => {
                if !inner.groups.get(group_id).is_some_and(|g| g.members().any(|m| m == member_id)) {
                    return Err(ShareSessionError::NotAMember);
                }
                let partitions = adding.iter().copied().collect();
                inner.sessions.insert(key.clone(), Session { next_epoch: 1, partitions });
            }
            -1 => {
                let session = inner.sessions.remove(&key).ok_or(ShareSessionError::NotFound)?;
                for partition in session.partitions {
                    if let Some(state) = inner.partitions.get_mut(&(group_id.to_string(), partition)) {
                        state.release_member(member_id, now_ms);
                    }
                }
                return Ok(Vec::new());
            }
            sent => {
                let session = inner.sessions.get_mut(&key).ok_or(ShareSessionError::NotFound)?;
                if sent != session.next_epoch {
                    return Err(ShareSessionError::InvalidEpoch);
                }
                session.next_epoch = session.next_epoch.checked_add(1).unwrap_or(1);
                session.partitions.extend(adding.iter().copied());
                for partition in forgetting {
                    session.partitions.remove(partition);
                }
            }
        }
        Ok(inner.sessions.get(&key).map(|s| s.partitions.iter().copied().collect()).unwrap_or_default())
    }

    /// Where the group reads `partition` next at `now_ms` (locks expired by then count as
    /// released), creating its state at `start` (the `share.auto.offset.reset` point) on first
    /// use; `log_start` moves a window the log outgrew.
    pub fn next_fetch_offset(
        &self,
        group_id: &str,
        partition: PartitionKey,
        (start, log_start): (i64, i64),
        now_ms: i64,
    ) -> i64 {
        let mut inner = self.lock();
        let config = self.config;
        let state = inner
            .partitions
            .entry((group_id.to_string(), partition))
            .or_insert_with(|| SharePartition::new(start, config));
        state.move_start_to(log_start);
        state.expire_locks(now_ms);
        state.next_fetch_offset(now_ms)
    }

    /// Acquires records of `from..upto` of `partition` for `member_id`.
    pub fn acquire(
        &self,
        group_id: &str,
        member_id: &str,
        partition: PartitionKey,
        max_records: usize,
        (from, upto): (i64, i64),
        now_ms: i64,
    ) -> Vec<Acquired> {
        let mut inner = self.lock();
        match inner.partitions.get_mut(&(group_id.to_string(), partition)) {
            Some(state) => state.acquire(member_id, max_records, from, upto, now_ms),
            None => Vec::new(),
        }
    }

    /// Applies `member_id`'s acknowledgement batches `(first, last, types)` (Kafka's wire type
    /// values) to `partition`, each all or nothing; the first error, if any.
    pub fn acknowledge(
        &self,
        group_id: &str,
        member_id: &str,
        partition: PartitionKey,
        wire_batches: &[(i64, i64, &[i8])],
        now_ms: i64,
    ) -> Result<(), ShareError> {
        let mut batches = Vec::with_capacity(wire_batches.len());
        for &(first, last, types) in wire_batches {
            let converted: Option<Vec<AckType>> = types.iter().map(|&t| AckType::from_wire(t)).collect();
            match converted {
                Some(types) if !types.is_empty() => batches.push((first, last, types)),
                _ => return Err(ShareError::InvalidBatch { first, last, types: types.len() }),
            }
        }
        let mut inner = self.lock();
        let Some(state) = inner.partitions.get_mut(&(group_id.to_string(), partition)) else {
            let (first, last) = batches.first().map_or((0, 0), |b| (b.0, b.1));
            return Err(ShareError::InvalidRecordState { first, last });
        };
        let mut outcome = Ok(());
        for (first, last, types) in &batches {
            if let Err(error) = state.acknowledge(member_id, *first, *last, types, now_ms) {
                outcome = outcome.and(Err(error));
            }
        }
        outcome
    }
}

impl Inner {
    /// Releases what `member` holds in every partition of `group_id` at `now_ms` and ends its
    /// session.
    fn release_member(&mut self, group_id: &str, member: &str, now_ms: i64) {
        self.sessions.remove(&(group_id.to_string(), member.to_string()));
        self.clients.remove(&(group_id.to_string(), member.to_string()));
        for ((group, _), state) in self.partitions.iter_mut() {
            if group == group_id {
                state.release_member(member, now_ms);
            }
        }
    }
}
