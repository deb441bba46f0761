//! Share groups (KIP-932) on this broker: each group's members ([`strata_shares::ShareGroup`]),
//! each group's view of each partition this broker leads ([`strata_shares::SharePartition`]),
//! and each member's share session (the partitions its ShareFetch requests cover, and the
//! epoch its next ShareFetch or ShareAcknowledge must carry). All behind one lock: a fetch reads
//! the log between two short visits; the only I/O under it is queueing the appends to
//! `__share_group_state`, so that they reach the log in the order the state changed (the wait
//! for them to be written is outside it).
//!
//! On a single node each share-partition's state (its start, and each in-flight record's state
//! and delivery count) is written to `__share_group_state` whenever it changes, before the
//! request that changed it is answered, and read back at start-up ([`state_log`]): acknowledged
//! records stay acknowledged across a restart, and those in flight are delivered again.
//!
//! In a cluster the group's members are known to its group coordinator, and each share-partition
//! lives with its partition's leader, which reads its state from the share coordinator
//! ([`coordinator`]) when it comes to lead the partition and writes it there at every change
//! ([`remote`]), so acknowledged records stay acknowledged across a failover.
//!
//! Not built yet: members are not kept across a restart (they join again).

pub mod admin;
pub mod coordinator;
pub mod dead_letters;
pub mod delivery_time;
pub mod group_config;
pub mod remote;
pub mod state_log;
pub mod unreadable;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use strata_shares::{
    AckType, Acquired, Admission, DeadLetter, HeartbeatError, HeartbeatReply, MemberView, PartitionSnapshot,
    RetryBackoff, ShareConfig, ShareError, ShareGroup, SharePartition, SnapshotRecord, StateKey,
};
use uuid::Uuid;

use crate::groups::{StoreError, wait_all};
use crate::state::{Broker, now_ms};
use crate::topics::Topics;
pub use group_config::GroupShareConfig;
use state_log::{StateError, StateLog};

/// Kafka's `group.share.max.size`: members per share group.
pub const MEMBERS_MAX: usize = 200;
/// Kafka's `group.share.max.groups`: share groups per broker.
pub const GROUPS_MAX: usize = 10;
/// Kafka's `group.share.max.share.sessions`: share sessions per broker.
pub const SESSIONS_MAX: usize = 2000;

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
    /// SHARE_SESSION_LIMIT_REACHED: the broker holds [`SESSIONS_MAX`] sessions.
    #[error("the share session limit (group.share.max.share.sessions) has been reached")]
    LimitReached,
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
    /// The group's `share.session.timeout.ms`: members silent this long leave.
    pub session_timeout_ms: i64,
}

/// A share group as ShareGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct DescribedShareGroup {
    pub state: &'static str,
    pub epoch: i32,
    pub members: Vec<(MemberView, ClientInfo)>,
}

/// A share-partition: a group's view of one partition.
pub type ShareKey = (String, PartitionKey);

/// In a cluster: in which epochs this broker holds a share-partition's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    /// The partition's leader epoch the state was read in.
    leader_epoch: i32,
    /// The state epoch the share coordinator has (`None`: it had no state, and none was written
    /// since).
    state_epoch: Option<i32>,
}

/// What a share-partition's snapshots carry beside its state.
#[derive(Debug, Clone, Copy)]
struct Written {
    snapshot_epoch: i32,
    created_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    groups: HashMap<String, ShareGroup>,
    clients: HashMap<(String, String), ClientInfo>,
    partitions: HashMap<ShareKey, SharePartition>,
    sessions: HashMap<(String, String), Session>,
    /// Share-partitions changed since their state was last written.
    changed: BTreeSet<ShareKey>,
    /// Share-partitions forgotten since the last write, whose state is deleted with it.
    deleted: BTreeSet<ShareKey>,
    written: HashMap<ShareKey, Written>,
    /// In a cluster: the leader and state epochs each share-partition's state was read from the
    /// share coordinator in.
    epochs: HashMap<ShareKey, Held>,
    /// `__share_group_state`, once it exists (single node only).
    state_log: Option<StateLog>,
}

/// Every share group of this broker.
#[derive(Debug)]
pub struct Shares {
    inner: Mutex<Inner>,
    config: ShareConfig,
    /// Whether the state is written to `__share_group_state` here (a single node); in a cluster
    /// it is written through the share coordinator.
    durable: bool,
    /// In a cluster: this broker's share coordinator.
    pub coordinator: coordinator::ShareCoordinator,
    /// In a cluster: held while states are written to the share coordinators, so that they
    /// reach them in the order the states changed.
    remote_writes: tokio::sync::Mutex<()>,
}

impl Shares {
    /// The share groups of a single node, their share-partitions as `__share_group_state` left
    /// them; in a cluster (`durable` false), none: each is read from the share coordinator
    /// when first used.
    pub fn open(settings: &crate::settings::Settings, topics: &Topics, durable: bool) -> Result<Shares, StoreError> {
        let shares = Shares::new(settings, durable);
        if !durable {
            return Ok(shares);
        }
        if let Some((log, restored)) = StateLog::open(topics)? {
            let mut inner = shares.lock();
            for (key, snapshot) in restored {
                let share_key = (key.group_id, (key.topic_id, key.partition));
                let written =
                    Written { snapshot_epoch: snapshot.snapshot_epoch, created_ms: snapshot.create_timestamp };
                inner.partitions.insert(share_key.clone(), SharePartition::restore(&snapshot.state, shares.config));
                inner.written.insert(share_key, written);
            }
            inner.state_log = Some(log);
        }
        Ok(shares)
    }

    /// No groups yet, with the broker's `group.share.*` settings.
    fn new(settings: &crate::settings::Settings, durable: bool) -> Shares {
        let config = ShareConfig {
            delivery_count_limit: settings.group_share_delivery_count_limit,
            lock_duration_ms: settings.group_share_record_lock_duration_ms,
            max_in_flight: settings.group_share_partition_max_record_locks,
            retry_backoff: RetryBackoff {
                initial_ms: settings.share_retry_backoff_ms,
                multiplier: settings.share_retry_backoff_multiplier,
                max_ms: settings.share_retry_backoff_max_ms,
            },
            dead_letter: false,
        };
        Shares {
            inner: Mutex::new(Inner::default()),
            config,
            durable,
            coordinator: coordinator::ShareCoordinator::default(),
            remote_writes: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let MemberBeat { member_id, member_epoch, subscribed, client, session_timeout_ms } = beat;
        let mut inner = self.lock();
        inner.groups.retain(|_, g| !g.is_empty());
        if !inner.groups.contains_key(group_id) && inner.groups.len() >= GROUPS_MAX {
            return Err(JoinError::Full("The share group limit (group.share.max.groups) has been reached."));
        }
        let group = inner.groups.entry(group_id.to_string()).or_default();
        let gone = group.expire(now_ms, session_timeout_ms, partitions);
        let joining = member_epoch == 0 && !group.members().any(|m| m == member_id);
        if joining && group.members().count() >= MEMBERS_MAX {
            return Err(JoinError::Full("The share group has reached its maximum size (group.share.max.size)."));
        }
        let reply = group.heartbeat(member_id, member_epoch, subscribed, partitions, now_ms).map_err(JoinError::from);
        // Members gone silent give back what they hold. One that leaves keeps its share session
        // and records until it closes the session (as Kafka's share session outlives the leave:
        // librdkafka sends its last acknowledgements after leaving), or their locks expire.
        for member in &gone {
            inner.release_member(group_id, member, now_ms);
        }
        let client_key = (group_id.to_string(), member_id.to_string());
        if member_epoch == -1 {
            inner.clients.remove(&client_key);
        } else if reply.is_ok() {
            inner.clients.insert(client_key, client);
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
    /// `forgetting` leaves it. Returns the session's partitions (empty once closed). Where this
    /// broker coordinates the group (`coordinates`), only a member of the group opens one;
    /// elsewhere (a cluster's partition leaders) any member id does, up to [`SESSIONS_MAX`].
    pub fn session(
        &self,
        (group_id, member_id): (&str, &str),
        epoch: i32,
        adding: &[PartitionKey],
        forgetting: &[PartitionKey],
        now_ms: i64,
        coordinates: bool,
    ) -> Result<Vec<PartitionKey>, ShareSessionError> {
        let mut inner = self.lock();
        let key = (group_id.to_string(), member_id.to_string());
        match epoch {
            0 => {
                if coordinates && !inner.groups.get(group_id).is_some_and(|g| g.members().any(|m| m == member_id)) {
                    return Err(ShareSessionError::NotAMember);
                }
                if !inner.sessions.contains_key(&key) && inner.sessions.len() >= SESSIONS_MAX {
                    return Err(ShareSessionError::LimitReached);
                }
                let partitions = adding.iter().copied().collect();
                inner.sessions.insert(key.clone(), Session { next_epoch: 1, partitions });
            }
            -1 => {
                let session = inner.sessions.remove(&key).ok_or(ShareSessionError::NotFound)?;
                for partition in session.partitions {
                    let share_key = (group_id.to_string(), partition);
                    if let Some(state) = inner.partitions.get_mut(&share_key)
                        && state.release_member(member_id, now_ms) > 0
                    {
                        inner.changed.insert(share_key);
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
    /// released), creating its state on first use at the log's start or end (`log_start`,
    /// `log_end`) as the group's `share.auto.offset.reset` says; `log_start` also moves a window
    /// the log outgrew. The group's settings as they are now apply from here on.
    pub fn next_fetch_offset(
        &self,
        group: (&str, &GroupShareConfig),
        partition: PartitionKey,
        (log_start, log_end): (i64, i64),
        now_ms: i64,
    ) -> i64 {
        let (group_id, settings) = group;
        let mut inner = self.lock();
        let config = settings.config;
        let start = if settings.earliest { log_start } else { log_end };
        let share_key = (group_id.to_string(), partition);
        let mut changed = !inner.partitions.contains_key(&share_key);
        let state = inner.partitions.entry(share_key.clone()).or_insert_with(|| SharePartition::new(start, config));
        state.set_config(config);
        let before = state.start_offset();
        state.move_start_to(log_start);
        changed |= state.expire_locks(now_ms) > 0 || state.start_offset() != before;
        let next = state.next_fetch_offset(now_ms);
        if changed {
            inner.changed.insert(share_key);
        }
        next
    }

    /// Whether `partition`'s state for `group_id` is here to use: always on a single node; in a
    /// cluster once it was read from the share coordinator in `leader_epoch`.
    pub fn is_loaded(&self, group_id: &str, partition: PartitionKey, leader_epoch: i32) -> bool {
        self.durable
            || self
                .lock()
                .epochs
                .get(&(group_id.to_string(), partition))
                .is_some_and(|h| h.leader_epoch == leader_epoch)
    }

    /// Takes `partition`'s state for `group_id` as the share coordinator gave it to this broker
    /// leading the partition in `leader_epoch` (`None`: it has none, and starts as the group's
    /// `share.auto.offset.reset` says). The state held here is kept if it is of the same leader
    /// and state epochs (it is then as new, or newer).
    pub fn load(&self, group_id: &str, partition: PartitionKey, leader_epoch: i32, state: Option<SnapshotRecord>) {
        let mut inner = self.lock();
        let key = (group_id.to_string(), partition);
        let held = Held { leader_epoch, state_epoch: state.as_ref().map(|r| r.state_epoch) };
        if inner.epochs.get(&key) == Some(&held) {
            return;
        }
        // The share coordinator numbers its snapshots itself: nothing goes in `written` here.
        inner.changed.remove(&key);
        match state {
            Some(record) => inner.partitions.insert(key.clone(), SharePartition::restore(&record.state, self.config)),
            None => inner.partitions.remove(&key),
        };
        inner.epochs.insert(key, held);
    }

    /// Held while states are written to, or read again from, the share coordinators.
    pub async fn remote_order(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.remote_writes.lock().await
    }

    /// In a cluster, after leadership changed: forgets the share-partitions of partitions this
    /// broker no longer leads in the epoch their state was read in (`leading` gives the epoch it
    /// leads a partition in, if it does); they are read again if it comes to lead them.
    pub fn follow_leadership(&self, leading: impl Fn(PartitionKey) -> Option<i32>) {
        if self.durable {
            return;
        }
        let mut inner = self.lock();
        let gone: Vec<ShareKey> = inner
            .epochs
            .iter()
            .filter(|(key, held)| leading(key.1) != Some(held.leader_epoch))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            tracing::debug!(group = key.0, partition = key.1.1, "share-partition left with its partition's leadership");
            inner.forget_here(&key);
        }
    }

    /// Acquires records of `from..upto` of `partition` for `member_id` as `admit` says of each
    /// (none before it is due; none ever that the group may not read, archived instead).
    pub fn acquire(
        &self,
        (group_id, member_id): (&str, &str),
        partition: PartitionKey,
        max_records: usize,
        (from, upto): (i64, i64),
        now_ms: i64,
        admit: impl Fn(i64) -> Admission,
    ) -> Vec<Acquired> {
        let mut inner = self.lock();
        let share_key = (group_id.to_string(), partition);
        let Some(state) = inner.partitions.get_mut(&share_key) else { return Vec::new() };
        let start = state.start_offset();
        let acquired = state.acquire_admitted(member_id, max_records, (from, upto), now_ms, admit);
        if !acquired.is_empty() || state.start_offset() != start {
            inner.changed.insert(share_key);
        }
        acquired
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
        let share_key = (group_id.to_string(), partition);
        let Some(state) = inner.partitions.get_mut(&share_key) else {
            let (first, last) = batches.first().map_or((0, 0), |b| (b.0, b.1));
            return Err(ShareError::InvalidRecordState { first, last });
        };
        let mut outcome = Ok(());
        // An expired lock changes the state even where the acknowledgement is refused.
        let mut changed = state.expire_locks(now_ms) > 0;
        for (first, last, types) in &batches {
            match state.acknowledge(member_id, *first, *last, types, now_ms) {
                Ok(()) => changed = true,
                Err(error) => outcome = outcome.and(Err(error)),
            }
        }
        if changed {
            inner.changed.insert(share_key);
        }
        outcome
    }

    /// Whether `group_id` has members now (its share-partitions may then not be reset).
    pub fn has_members(&self, group_id: &str) -> bool {
        self.lock().groups.get(group_id).is_some_and(|g| !g.is_empty())
    }

    /// Whether `group_id` is a share group here: it has members or share-partition state.
    pub fn is_known(&self, group_id: &str) -> bool {
        let inner = self.lock();
        inner.groups.get(group_id).is_some_and(|g| !g.is_empty()) || inner.partitions.keys().any(|k| k.0 == group_id)
    }

    /// The start offset (SPSO) of each share-partition of `group_id`.
    pub fn start_offsets(&self, group_id: &str) -> BTreeMap<PartitionKey, i64> {
        let inner = self.lock();
        inner.partitions.iter().filter(|(k, _)| k.0 == group_id).map(|(k, p)| (k.1, p.start_offset())).collect()
    }

    /// Starts `partition` of `group_id` afresh at `start` (AlterShareGroupOffsets): what was in
    /// flight is forgotten. The caller checked the group has no members.
    pub fn reset(&self, group_id: &str, partition: PartitionKey, start: i64) {
        let mut inner = self.lock();
        let key = (group_id.to_string(), partition);
        inner.partitions.insert(key.clone(), SharePartition::new(start, self.config));
        inner.changed.insert(key);
    }

    /// Forgets the share-partitions of `group_id` that `which` selects (DeleteShareGroupOffsets,
    /// DeleteGroups); their state is deleted from `__share_group_state` with the next write.
    /// Returns how many were forgotten.
    pub fn forget(&self, group_id: &str, which: impl Fn(&PartitionKey) -> bool) -> usize {
        let mut inner = self.lock();
        let gone: Vec<ShareKey> = inner.partitions.keys().filter(|k| k.0 == group_id && which(&k.1)).cloned().collect();
        for key in &gone {
            inner.forget_here(key);
            inner.deleted.insert(key.clone());
        }
        gone.len()
    }

    /// Takes the records due for their groups' dead-letter topics (marked as being written).
    pub fn take_dead_letters(&self) -> Vec<(ShareKey, Vec<DeadLetter>)> {
        let mut inner = self.lock();
        let mut due = Vec::new();
        for (key, state) in inner.partitions.iter_mut() {
            let letters = state.take_dead_letters();
            if !letters.is_empty() {
                due.push((key.clone(), letters));
            }
        }
        due
    }

    /// `offsets` of `key` were written to the dead-letter topic (archived now) or were not (to
    /// be tried again).
    pub fn dead_lettered(&self, key: &ShareKey, offsets: &[i64], written: bool) {
        let mut inner = self.lock();
        if let Some(state) = inner.partitions.get_mut(key) {
            state.dead_lettered(offsets, written);
            inner.changed.insert(key.clone());
        }
    }

    /// Writes the state of every share-partition changed since the last call to
    /// `__share_group_state` (creating it the first time), and waits until it is written; in a
    /// cluster, through the share coordinator.
    pub async fn persist(broker: &Broker) -> Result<(), StateError> {
        let shares = &broker.shares;
        if !shares.durable {
            return shares.persist_remotely(broker).await;
        }
        let pending = {
            let mut inner = shares.lock();
            if inner.changed.is_empty() && inner.deleted.is_empty() {
                return Ok(());
            }
            if inner.state_log.is_none() {
                inner.state_log = Some(StateLog::create(broker)?);
            }
            let now = now_ms();
            let changed = std::mem::take(&mut inner.changed);
            let mut snapshots: Vec<_> =
                changed.iter().filter_map(|key| inner.snapshot(key, now)).map(|(k, s)| (k, Some(s))).collect();
            let deleted = std::mem::take(&mut inner.deleted);
            snapshots.extend(
                deleted
                    .into_iter()
                    .map(|(group_id, (topic_id, partition))| (StateKey { group_id, topic_id, partition }, None)),
            );
            let appended = inner.state_log.as_mut().map(|log| log.append(&snapshots, now)).transpose()?;
            let (pending, due) = appended.unwrap_or_default();
            for partition in due {
                let live = inner.live_snapshots(partition, now);
                if let Some(log) = inner.state_log.as_mut() {
                    log.compact(partition, &live, now);
                }
            }
            pending
        };
        Ok(wait_all(Ok(pending)).await?)
    }
}

impl Shares {
    /// [`Shares::persist`] in a cluster: each changed state goes to its share coordinator, in the
    /// leader and state epochs it was read in; one a newer leader fenced, or that was started
    /// afresh meanwhile, is forgotten here (and read again). (A share-partition forgotten here is
    /// deleted at the share coordinator by the group coordinator: DeleteShareGroupOffsets.)
    async fn persist_remotely(&self, broker: &Broker) -> Result<(), StateError> {
        let _in_order = self.remote_order().await;
        let states: Vec<(StateKey, PartitionSnapshot, Held)> = {
            let mut inner = self.lock();
            inner.deleted.clear();
            let changed = std::mem::take(&mut inner.changed);
            changed
                .into_iter()
                .filter_map(|key| {
                    let epoch = *inner.epochs.get(&key)?;
                    let state = inner.partitions.get(&key)?.snapshot();
                    let state_key = StateKey { group_id: key.0, topic_id: key.1.0, partition: key.1.1 };
                    Some((state_key, state, epoch))
                })
                .collect()
        };
        let mut outcome = Ok(());
        for (key, state, held) in states {
            let share_key = (key.group_id.clone(), (key.topic_id, key.partition));
            let state_epoch = held.state_epoch.unwrap_or(0);
            match remote::write(broker, key, state, (state_epoch, held.leader_epoch)).await {
                Ok(()) => {
                    let mut inner = self.lock();
                    if let Some(now) = inner.epochs.get_mut(&share_key).filter(|h| h.leader_epoch == held.leader_epoch)
                    {
                        now.state_epoch = Some(state_epoch);
                    }
                }
                Err(error) => {
                    use kafka_protocol::ResponseError::{FencedLeaderEpoch, FencedStateEpoch};
                    if matches!(error, FencedLeaderEpoch | FencedStateEpoch) {
                        self.lock().forget_here(&share_key);
                    } else {
                        // Written again with the next change, or by the next request.
                        self.lock().changed.insert(share_key);
                    }
                    outcome = Err(StateError::Coordinator(error));
                }
            }
        }
        outcome
    }
}

impl Inner {
    /// Forgets `key`'s state here (it lives on with the share coordinator).
    fn forget_here(&mut self, key: &ShareKey) {
        self.partitions.remove(key);
        self.written.remove(key);
        self.changed.remove(key);
        self.epochs.remove(key);
    }

    /// Releases what `member` holds in every partition of `group_id` at `now_ms` and ends its
    /// session.
    fn release_member(&mut self, group_id: &str, member: &str, now_ms: i64) {
        self.sessions.remove(&(group_id.to_string(), member.to_string()));
        self.clients.remove(&(group_id.to_string(), member.to_string()));
        for (key, state) in self.partitions.iter_mut() {
            if key.0 == group_id && state.release_member(member, now_ms) > 0 {
                self.changed.insert(key.clone());
            }
        }
    }

    /// The record of `key`'s state now, its snapshot epoch one past the last written.
    fn snapshot(&mut self, key: &ShareKey, now_ms: i64) -> Option<(StateKey, SnapshotRecord)> {
        let state = self.partitions.get(key)?;
        let written = self.written.entry(key.clone()).or_insert(Written { snapshot_epoch: -1, created_ms: now_ms });
        written.snapshot_epoch = written.snapshot_epoch.wrapping_add(1).max(0);
        let record = SnapshotRecord {
            snapshot_epoch: written.snapshot_epoch,
            state_epoch: 0,
            leader_epoch: 0,
            create_timestamp: written.created_ms,
            write_timestamp: now_ms,
            state: state.snapshot(),
        };
        Some((StateKey { group_id: key.0.clone(), topic_id: key.1.0, partition: key.1.1 }, record))
    }

    /// The records of every share-partition whose state goes to `__share_group_state`
    /// partition `partition`.
    fn live_snapshots(&mut self, partition: i32, now_ms: i64) -> Vec<(StateKey, SnapshotRecord)> {
        let Some(log) = &self.state_log else { return Vec::new() };
        let keys: Vec<ShareKey> = self
            .partitions
            .keys()
            .filter(|(group_id, (topic_id, index))| {
                let key = StateKey { group_id: group_id.clone(), topic_id: *topic_id, partition: *index };
                log.partition_of(&key) == partition
            })
            .cloned()
            .collect();
        keys.iter().filter_map(|key| self.snapshot(key, now_ms)).collect()
    }
}
