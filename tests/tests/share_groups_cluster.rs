//! Share groups (KIP-932) on a three-broker cluster, on raw sockets: a member joins at its group
//! coordinator and fetches a partition from that partition's leader, a third broker, which reads
//! and writes the share-partition's state at the share coordinator (the leader of its
//! `__share_group_state` partition, over ReadShareGroupState and WriteShareGroupState). When the
//! partition's leader is killed, its successor reads the state back: what was accepted is never
//! delivered again, and what was in flight is delivered again with its delivery count raised.
//! The share group offset APIs at the group coordinator read, start afresh and delete the state
//! at the share coordinator, and the partition's leader takes a state started afresh.

use std::time::Duration;

use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::protocol::StrBytes;
use strata_testkit::batches::{Batch, decode};
use strata_testkit::codes;
use strata_testkit::raw::RawConn;
use strata_testkit::requests;
use strata_testkit::shares::{self, acquired, alter_group_configs};
use strata_tests::cluster::{Cluster, create_spread_topic, eventually, partition_states};
use uuid::Uuid;

/// How long a change may take to reach every broker (fencing takes the session timeout).
const CONVERGE: Duration = Duration::from_secs(40);
const TOPIC: &str = "queue";
const GROUP: &str = "cluster-workers";
/// A member id as clients make them, a Kafka `Uuid` string (`shares::member_id("member-1")`).
const MEMBER: &str = "bWVtYmVyLTEAAAAAAAAAAA";
const STATE_TOPIC: &str = "__share_group_state";
const DEAD_LETTERS: &str = "dlq.queue";
const ACCEPT: i8 = 1;
const REJECT: i8 = 3;

/// One member's share session at one broker: the connection and the next session epoch.
struct Session {
    conn: RawConn,
    epoch: i32,
}

impl Session {
    fn open(address: &str) -> Session {
        Session { conn: RawConn::connect(address), epoch: 0 }
    }

    /// A ShareFetch of `partition` in this session, carrying `acks`; the answer's acquired runs,
    /// or the partition's error (a broker that has not caught up with the metadata yet).
    fn fetch(
        &mut self,
        (topic, partition): (Uuid, i32),
        max_records: i32,
        acks: &[(i64, i64, i8)],
    ) -> Result<Vec<(i64, i64, i16)>, i16> {
        let response =
            shares::fetch(&mut self.conn, (GROUP, MEMBER), self.epoch, (topic, partition), max_records, acks);
        self.epoch += 1;
        if let Some(p) = response.responses.first().and_then(|t| t.partitions.first()) {
            assert_eq!(p.acknowledge_error_code, codes::NONE, "acknowledging {acks:?}");
            if p.error_code != codes::NONE {
                return Err(p.error_code);
            }
        }
        Ok(acquired(&response).0)
    }
}

/// The broker coordinating group `group`.
fn group_coordinator(address: &str, group: &str) -> i32 {
    let find = FindCoordinatorRequest::default().with_key_type(0).with_key(StrBytes::from_string(group.to_string()));
    let found = RawConn::connect(address).request(3, &find);
    assert_eq!(found.error_code, codes::NONE, "FindCoordinator {group}");
    found.node_id.0
}

#[test]
fn a_share_partition_keeps_its_state_across_a_failover_of_its_leader() {
    let mut cluster = Cluster::start(
        3,
        &[("replica.lag.time.max.ms", "3000"), ("share.coordinator.state.topic.num.partitions", "1")],
    );
    let bootstrap = cluster.bootstrap();
    let address = |cluster: &mut Cluster, id: i32| cluster.node(id).bootstrap().to_string();
    let any = address(&mut cluster, 1);
    create_spread_topic(&bootstrap, TOPIC, CONVERGE);
    let mut admin = RawConn::connect(&any);
    let settings = [("share.auto.offset.reset", "earliest"), ("errors.deadletterqueue.topic.name", DEAD_LETTERS)];
    assert_eq!(alter_group_configs(&mut admin, GROUP, &settings), codes::NONE);
    let topic = requests::metadata(&mut admin, Some(&[TOPIC]), false).topics[0].topic_id;

    // The member joins at its group coordinator and is assigned every partition.
    let coordinator = group_coordinator(&any, GROUP);
    let mut member = RawConn::connect(&address(&mut cluster, coordinator));
    eventually(CONVERGE, "the member joins (the coordinator may still be loading)", || {
        let joined = shares::heartbeat(&mut member, (GROUP, MEMBER), 0, Some(&[TOPIC]));
        (joined.error_code == codes::NONE).then_some(())
    });

    // A first share fetch creates the share coordinator's topic.
    let states = partition_states(&any, TOPIC);
    let mut first = Session::open(&address(&mut cluster, states[0].0));
    let _ = first.fetch((topic, 0), 0, &[]);
    let state_leader = eventually(CONVERGE, "__share_group_state has a leader", || {
        partition_states(&any, STATE_TOPIC).first().map(|s| s.0).filter(|&leader| leader >= 1)
    });
    // The partition whose leader coordinates neither the group nor its state.
    let (partition, leader) = (0..3)
        .map(|p| (p, states[usize::try_from(p).expect("index")].0))
        .find(|&(_, leader)| leader != coordinator && leader != state_leader)
        .expect("a partition led by the third broker");
    let leader_address = address(&mut cluster, leader);
    let mut producer = RawConn::connect(&leader_address);
    eventually(CONVERGE, "ten records are produced", || {
        let records = Batch::new().numbered(10, None, requests::epoch_ms()).encode();
        let produced = requests::produce(&mut producer, TOPIC, partition, records);
        (produced.error_code == codes::NONE).then_some(()).or_else(|| {
            eprintln!("produce: error {}", produced.error_code);
            None
        })
    });

    let mut session = Session::open(&leader_address);
    let runs = eventually(CONVERGE, "the leader hands out the records", || {
        session.fetch((topic, partition), 10, &[]).ok().filter(|runs| !runs.is_empty())
    });
    assert_eq!(runs, [(0, 9, 1)]);
    // Records 0-4 are accepted (written to the share coordinator before the answer); 5-9 stay
    // in flight.
    assert_eq!(session.fetch((topic, partition), 0, &[(0, 4, ACCEPT)]), Ok(Vec::new()));

    cluster.node(leader).kill();
    let successor = eventually(CONVERGE, "the partition has a new leader", || {
        let states = partition_states(&address(&mut cluster, coordinator), TOPIC);
        let now = states[usize::try_from(partition).expect("index")].0;
        (now >= 1 && now != leader).then_some(now)
    });
    let mut after = Session::open(&address(&mut cluster, successor));
    let runs = eventually(CONVERGE, "the new leader hands out what was in flight", || {
        after.fetch((topic, partition), 10, &[]).ok().filter(|runs| !runs.is_empty())
    });
    assert_eq!(runs, [(5, 9, 2)], "accepted records stay accepted; those in flight come again, delivered twice");
    assert_eq!(after.fetch((topic, partition), 0, &[(5, 8, ACCEPT), (9, 9, REJECT)]), Ok(Vec::new()));
    assert_eq!(after.fetch((topic, partition), 10, &[]), Ok(Vec::new()), "every record is done with");

    // The rejected record reaches the dead-letter topic, wherever its partition is led.
    let letters = eventually(CONVERGE, "the dead letter is written", || {
        let leader = partition_states(&address(&mut cluster, coordinator), DEAD_LETTERS).first()?.0;
        let leader_address = address(&mut cluster, Some(leader).filter(|&id| id >= 1)?);
        let fetched = requests::fetch(&mut RawConn::connect(&leader_address), DEAD_LETTERS, 0, 0);
        let letters: Vec<_> = decode(&fetched.records?).into_iter().flat_map(|set| set.records).collect();
        (!letters.is_empty()).then_some(letters)
    });
    let offsets: Vec<Option<String>> = letters
        .iter()
        .map(|r| {
            let offset = r.headers.get(&b"_dlq.errors.offset"[..]).and_then(|v| v.as_ref());
            offset.map(|v| String::from_utf8_lossy(v).to_string())
        })
        .collect();
    assert_eq!(offsets, [Some("9".to_string())], "the rejected record, once");

    // The share group offset APIs at the group coordinator ask the share coordinator: the start
    // offset is past every record; once the member left, the partition is started again at 3,
    // which its leader takes when the member opens a session there again; then it is deleted.
    let mut admin = RawConn::connect(&address(&mut cluster, coordinator));
    let start_of = |admin: &mut RawConn| {
        let (code, starts) = shares::offsets(admin, GROUP);
        assert_eq!(code, codes::NONE);
        starts.into_iter().find(|&(index, _)| index == partition).map(|(_, start)| start)
    };
    assert_eq!(start_of(&mut admin), Some(10));
    assert_eq!(shares::reset_offset(&mut admin, (GROUP, TOPIC), partition, 3), codes::NON_EMPTY_GROUP);
    let left = shares::heartbeat(&mut member, (GROUP, MEMBER), -1, None);
    assert_eq!(left.error_code, codes::NONE);
    assert_eq!(shares::reset_offset(&mut admin, (GROUP, TOPIC), partition, 3), codes::NONE);
    assert_eq!(start_of(&mut admin), Some(3));
    let joined = shares::heartbeat(&mut member, (GROUP, MEMBER), 0, Some(&[TOPIC]));
    assert_eq!(joined.error_code, codes::NONE);
    let mut again = Session::open(&address(&mut cluster, successor));
    let runs = eventually(CONVERGE, "records from 3 again", || {
        again.fetch((topic, partition), 10, &[]).ok().filter(|runs| !runs.is_empty())
    });
    assert_eq!(runs, [(3, 9, 1)], "the share-partition started afresh at 3");
    assert_eq!(shares::heartbeat(&mut member, (GROUP, MEMBER), -1, None).error_code, codes::NONE);
    assert_eq!(shares::delete_offsets(&mut admin, GROUP, TOPIC), codes::NONE);
    assert_eq!(shares::offsets(&mut admin, GROUP).0, codes::GROUP_ID_NOT_FOUND, "nothing left of the group");
}
