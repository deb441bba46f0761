//! A fake-clock harness around the coordinator: it plays the broker (tokens, records, parked
//! replies) and checks that every parked request is answered exactly once.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of it; tests unwrap.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable, StrBytes};
use strata_groups::*;

pub const GROUP: &str = "g";
pub const SESSION_MS: i32 = 10_000;
pub const REBALANCE_MS: i32 = 30_000;

pub fn config() -> CoordinatorConfig {
    CoordinatorConfig { initial_rebalance_delay_ms: 0, ..CoordinatorConfig::default() }
}

/// Consumer-protocol subscription metadata (version 1) for `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default();
    sub.topics = topics.iter().map(|t| StrBytes::from_string((*t).to_owned())).collect();
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    sub.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

pub fn protocols(names: &[&str]) -> Vec<Protocol> {
    names.iter().map(|n| Protocol { name: (*n).to_owned(), metadata: subscription(&["t"]) }).collect()
}

pub struct Harness {
    pub c: Coordinator,
    pub now: i64,
    next_token: RequestToken,
    /// Tokens parked and not yet answered.
    pub parked: BTreeSet<RequestToken>,
    /// Parked requests answered later, by token.
    pub done: BTreeMap<RequestToken, Completed>,
    /// Requests answered at once, by token (so a test can fetch any reply by token).
    pub answered: BTreeMap<RequestToken, Completed>,
    /// Every record emitted, in order (the `__consumer_offsets` log).
    pub log: Vec<Record>,
    /// End-transaction markers written to the log: (records before it, producer id, commit).
    pub markers: Vec<(usize, i64, bool)>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(config())
    }

    pub fn with_config(config: CoordinatorConfig) -> Self {
        Harness {
            c: Coordinator::new(config, Box::new(SeededMemberIds::new(1))),
            now: 1_000_000,
            next_token: 1,
            parked: BTreeSet::new(),
            done: BTreeMap::new(),
            answered: BTreeMap::new(),
            log: Vec::new(),
            markers: Vec::new(),
        }
    }

    pub fn absorb(&mut self, effects: Effects) {
        self.log.extend(effects.records);
        for completed in effects.completed {
            let token = completed.token();
            assert!(self.parked.remove(&token), "token {token} answered but not parked (or answered twice)");
            self.done.insert(token, completed);
        }
    }

    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        self.next_token
    }

    pub fn join_request(&self, member_id: &str, instance: Option<&str>, protocols: Vec<Protocol>) -> JoinGroupRequest {
        JoinGroupRequest {
            version: 7,
            group_id: GROUP.into(),
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_owned),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".into(),
            protocols,
        }
    }

    /// Sends a JoinGroup; returns its token and its immediate reply (None = parked).
    pub fn join_with(&mut self, request: JoinGroupRequest) -> (RequestToken, Option<JoinGroupReply>) {
        let token = self.token();
        let outcome = self.c.join_group(token, request, self.now);
        match &outcome.reply {
            None => assert!(self.parked.insert(token)),
            Some(reply) => {
                self.answered.insert(token, Completed::Join { token, reply: reply.clone() });
            }
        }
        self.absorb(outcome.effects);
        (token, outcome.reply)
    }

    pub fn join(&mut self, member_id: &str) -> (RequestToken, Option<JoinGroupReply>) {
        let request = self.join_request(member_id, None, protocols(&["range"]));
        self.join_with(request)
    }

    /// A new dynamic member: MEMBER_ID_REQUIRED, then the join with the given id.
    pub fn join_new(&mut self) -> (String, RequestToken, Option<JoinGroupReply>) {
        let (_, first) = self.join("");
        let first = first.unwrap();
        assert_eq!(first.error, Some(GroupError::MemberIdRequired));
        let id = first.member_id;
        let (token, reply) = self.join(&id);
        (id, token, reply)
    }

    /// The reply to `token`, whether it came at once (`immediate`) or later.
    pub fn join_reply(&mut self, token: RequestToken, immediate: Option<JoinGroupReply>) -> JoinGroupReply {
        if let Some(reply) = immediate {
            return reply;
        }
        match self.done.remove(&token).or_else(|| self.answered.remove(&token)) {
            Some(Completed::Join { reply, .. }) => reply,
            other => panic!("join {token} not answered: {other:?}"),
        }
    }

    pub fn sync_with(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<MemberAssignment>,
    ) -> (RequestToken, Option<SyncGroupReply>) {
        let token = self.token();
        let request = SyncGroupRequest {
            group_id: GROUP.into(),
            generation_id: generation,
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: None,
            assignments,
        };
        let outcome = self.c.sync_group(token, request, self.now);
        match &outcome.reply {
            None => assert!(self.parked.insert(token)),
            Some(reply) => {
                self.answered.insert(token, Completed::Sync { token, reply: reply.clone() });
            }
        }
        self.absorb(outcome.effects);
        (token, outcome.reply)
    }

    pub fn sync_reply(&mut self, token: RequestToken, immediate: Option<SyncGroupReply>) -> SyncGroupReply {
        if let Some(reply) = immediate {
            return reply;
        }
        match self.done.remove(&token).or_else(|| self.answered.remove(&token)) {
            Some(Completed::Sync { reply, .. }) => reply,
            other => panic!("sync {token} not answered: {other:?}"),
        }
    }

    pub fn heartbeat(&mut self, member_id: &str, generation: i32) -> Option<GroupError> {
        let request = HeartbeatRequest {
            group_id: GROUP.into(),
            generation_id: generation,
            member_id: member_id.into(),
            group_instance_id: None,
        };
        let outcome = self.c.heartbeat(request, self.now);
        self.absorb(outcome.effects);
        outcome.reply.error
    }

    pub fn leave(&mut self, members: Vec<LeavingMember>) -> LeaveGroupReply {
        let outcome = self.c.leave_group(LeaveGroupRequest { group_id: GROUP.into(), members }, self.now);
        self.absorb(outcome.effects);
        outcome.reply
    }

    pub fn commit(
        &mut self,
        member_id: &str,
        generation: i32,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Option<GroupError> {
        let request = commit_request(member_id, generation, topic, partition, offset);
        let outcome = self.c.offset_commit(request, self.now);
        self.only_error(outcome)
    }

    /// `request` as a TxnOffsetCommit by `producer_id` (epoch 0).
    pub fn txn_commit(&mut self, producer_id: i64, request: OffsetCommitRequest) -> Option<GroupError> {
        let OffsetCommitRequest { group_id, generation_id, member_id, group_instance_id, offsets } = request;
        let request = TxnOffsetCommitRequest {
            group_id,
            producer_id,
            producer_epoch: 0,
            generation_id,
            member_id,
            group_instance_id,
            offsets,
        };
        let outcome = self.c.txn_offset_commit(request, self.now);
        self.only_error(outcome)
    }

    /// Absorbs a one-partition commit's effects and returns its error.
    fn only_error(&mut self, outcome: Outcome<OffsetCommitReply>) -> Option<GroupError> {
        self.absorb(outcome.effects);
        assert_eq!(outcome.reply.partitions.len(), 1);
        outcome.reply.partitions[0].error
    }

    /// The transaction of `producer_id` ends: its marker goes to the group's partition, then
    /// the coordinator hears of it (as the broker does it).
    pub fn end_txn(&mut self, producer_id: i64, commit: bool) -> usize {
        self.markers.push((self.log.len(), producer_id, commit));
        let partition = self.c.partition_for(GROUP);
        self.c.transaction_completed(partition, producer_id, commit)
    }

    /// Replays this harness's log, markers included, into a fresh coordinator.
    pub fn replay_log(&self, config: CoordinatorConfig, now_ms: i64) -> Coordinator {
        let partition = self.c.partition_for(GROUP);
        let mut replayer = Coordinator::replayer(config, Box::new(SeededMemberIds::new(99)));
        let mut markers = self.markers.iter().peekable();
        for (at, record) in self.log.iter().enumerate() {
            while let Some((_, producer_id, commit)) = markers.next_if(|(before, _, _)| *before <= at) {
                replayer.apply_marker(partition, *producer_id, *commit);
            }
            apply_record(&mut replayer, record);
        }
        for (_, producer_id, commit) in markers {
            replayer.apply_marker(partition, *producer_id, *commit);
        }
        replayer.finish(now_ms)
    }

    pub fn committed(&self, topic: &str, partition: i32) -> i64 {
        let tp = [TopicPartition::new(topic, partition)];
        self.c.offset_fetch(GROUP, Some(&tp), false).partitions[0].offset
    }

    /// Moves the fake clock and ticks.
    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
        let effects = self.c.tick(self.now);
        self.absorb(effects);
    }

    pub fn summary(&self) -> GroupSummary {
        self.c.group_summary(GROUP).expect("group exists")
    }

    pub fn state(&self) -> GroupState {
        self.summary().state
    }

    /// One member joins a fresh group and syncs: returns its id and the generation (1).
    pub fn stable_single(&mut self, assignment: &'static [u8]) -> (String, i32) {
        let (id, token, reply) = self.join_new();
        let reply = self.join_reply(token, reply);
        assert_eq!(reply.error, None);
        let (token, sync) = self.sync_with(&id, reply.generation_id, vec![assign(&id, assignment)]);
        let sync = self.sync_reply(token, sync);
        assert_eq!(sync.error, None);
        (id, reply.generation_id)
    }

    /// With `a` the only (Stable) member, a new member joins and `a` rejoins: both answered
    /// with the next generation. Returns the new member's id and both replies (`a`'s first).
    pub fn add_second(&mut self, a: &str) -> (String, JoinGroupReply, JoinGroupReply) {
        let (b, b_token, b_reply) = self.join_new();
        assert!(b_reply.is_none(), "the new member waits for the rebalance");
        let (a_token, a_reply) = self.join(a);
        let a_join = self.join_reply(a_token, a_reply);
        let b_join = self.join_reply(b_token, None);
        assert_eq!(a_join.generation_id, b_join.generation_id);
        (b, a_join, b_join)
    }

    /// Replays this harness's log into a fresh coordinator.
    pub fn replay(records: &[Record], config: CoordinatorConfig, now_ms: i64) -> Coordinator {
        let mut replayer = Coordinator::replayer(config, Box::new(SeededMemberIds::new(99)));
        for record in records {
            apply_record(&mut replayer, record);
        }
        replayer.finish(now_ms)
    }
}

/// An OffsetCommit of one offset to the group.
pub fn commit_request(
    member_id: &str,
    generation: i32,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: GROUP.into(),
        generation_id: generation,
        member_id: member_id.into(),
        group_instance_id: None,
        offsets: vec![entry(topic, partition, offset)],
    }
}

/// One offset to commit, with metadata "meta".
pub fn entry(topic: &str, partition: i32, offset: i64) -> OffsetCommitEntry {
    OffsetCommitEntry {
        partition: TopicPartition::new(topic, partition),
        offset,
        leader_epoch: -1,
        metadata: Some("meta".into()),
    }
}

/// Replays one record, into its transaction's pending offsets if it has one.
pub fn apply_record(replayer: &mut Replayer, record: &Record) {
    match record.transaction {
        None => replayer.apply(&record.key, record.value.as_deref()).unwrap(),
        Some(producer) => replayer.apply_transactional(producer, &record.key, record.value.as_deref()).unwrap(),
    }
}

pub fn assign(member_id: &str, bytes: &'static [u8]) -> MemberAssignment {
    MemberAssignment { member_id: member_id.into(), assignment: Bytes::from_static(bytes) }
}

pub fn by_id(member_id: &str) -> LeavingMember {
    LeavingMember { member_id: member_id.into(), group_instance_id: None }
}
