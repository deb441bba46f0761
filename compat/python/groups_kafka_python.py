"""kafka-python consumer groups against Strata (issue 4): split on join, takeover after close,
resume at committed offsets, with kafka-python's own group protocol code.

Usage: python groups_kafka_python.py BOOTSTRAP
"""

import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

TOPIC = "py-kp-groups"
PARTITIONS = 4
COUNT = 2_000


def member(bootstrap, group):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500)
    c.subscribe([TOPIC])
    # Learn the topic's partitions before the first poll joins the group. Otherwise the join can
    # finish before the metadata that subscribe() asked for arrives. The leader then assigns
    # nothing, and once the metadata arrives kafka-python rejoins because it changed. kafka-python
    # 3.0.12 can lose that rejoin: if a poll times out after the leader's assignment but before
    # the SyncGroup answer, the next poll sees need_rejoin() False (the assignment already took
    # the new metadata) and never waits for the join again. The member then keeps no partitions
    # and sends no heartbeats, and the broker drops it after session.timeout.ms. CI saw this on
    # Kafka 4.1.2 for the fresh member c ("resume after the committed offsets: not reached;
    # assignments [[]]"; server.log: "Leader ... re-joining group during Stable", then "Member
    # ... has failed, removing it from the group" 6 s later). A loaded machine hits it about
    # 1 run in 7.
    partitions = c.partitions_for_topic(TOPIC)
    assert partitions == set(range(PARTITIONS)), f"metadata for {TOPIC}: partitions {partitions}"
    return c


def pump(members, what, done, timeout=30.0, sink=None):
    """Polls every member on a thread of its own, as applications run consumers, until done().

    One thread taking turns at short polls would trip kafka-python 3.0.12: a JoinGroup and
    SyncGroup round that completes while the thread polls another member is thrown away (its
    join task is done, so the next poll starts a new one), and the new join rebalances the group
    again, round after round."""
    stop = threading.Event()

    def poll(member):
        while not stop.is_set():
            for records in member.poll(timeout_ms=50).values():
                if sink is not None:
                    sink.extend(records)

    threads = [threading.Thread(target=poll, args=(m,)) for m in members]
    for t in threads:
        t.start()
    deadline = time.time() + timeout
    try:
        while not done() and time.time() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert done(), f"{what}: not reached; assignments " + \
        str([sorted(p.partition for p in m.assignment()) for m in members])


def produce(bootstrap, start, count):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for i in range(start, start + count):
        p.send(TOPIC, value=f"m{i}".encode(), partition=i % PARTITIONS)
    p.flush(30)
    p.close()


def main(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    admin.close()

    a = member(bootstrap, "g2")
    pump([a], "one member owns all partitions", lambda: len(a.assignment()) == PARTITIONS)
    b = member(bootstrap, "g2")
    pump([a, b], "two members split 2/2", lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2)
    b.close()
    pump([a], "the remaining member takes over", lambda: len(a.assignment()) == PARTITIONS)

    # The sole member consumes everything and commits; a fresh member resumes after that.
    produce(bootstrap, 0, COUNT)
    seen = []
    pump([a], "consume the topic", lambda: len(seen) >= COUNT, sink=seen)
    assert len(seen) == COUNT, f"consumed {len(seen)} of {COUNT}"
    a.commit()
    a.close()
    produce(bootstrap, COUNT, 40)
    c = member(bootstrap, "g2")
    later = []
    pump([c], "resume after the committed offsets", lambda: len(later) >= 40, sink=later)
    values = sorted(int(r.value[1:]) for r in later)
    assert values == list(range(COUNT, COUNT + 40)), f"re-read or lost: {values[:5]}..."
    c.close()
    print("kafka-python groups: split, takeover after close, resume at committed offsets")


if __name__ == "__main__":
    main(sys.argv[1])
