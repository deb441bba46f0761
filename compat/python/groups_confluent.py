"""confluent-kafka consumer groups against Strata (issue 4): on a 4-partition topic a second member
splits the partitions, a member that closes is taken over, and a new member resumes exactly at the
committed offsets.

Usage: python groups_confluent.py BOOTSTRAP
"""

import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "py-ck-groups"
PARTITIONS = 4
COUNT = 2_000


def member(bootstrap, group):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 500, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([TOPIC])
    return c


def pump(members, what, done, timeout=30.0, sink=None):
    deadline = time.time() + timeout
    while not done():
        assert time.time() < deadline, f"{what}: not reached; assignments " + \
            str([sorted(p.partition for p in m.assignment()) for m in members])
        for m in members:
            msg = m.poll(0.05)
            if msg is not None and msg.error() is None and sink is not None:
                sink.append((m, msg))


def produce(bootstrap, start, count):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(start, start + count):
        p.produce(TOPIC, value=f"m{i}".encode(), partition=i % PARTITIONS)
    assert p.flush(30) == 0


def main(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        f.result(timeout=30)

    a = member(bootstrap, "g1")
    pump([a], "one member owns all partitions", lambda: len(a.assignment()) == PARTITIONS)
    b = member(bootstrap, "g1")
    pump([a, b], "two members split 2/2", lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2)
    owned = {p.partition for p in a.assignment()} | {p.partition for p in b.assignment()}
    assert owned == set(range(PARTITIONS)), owned
    b.close()
    started = time.time()
    pump([a], "the remaining member takes over", lambda: len(a.assignment()) == PARTITIONS)
    assert time.time() - started < 5.5, "takeover after close waited for the session timeout"

    # The sole member consumes everything and commits; a fresh member resumes after that.
    produce(bootstrap, 0, COUNT)
    seen = []
    pump([a], "consume the topic", lambda: len(seen) >= COUNT, sink=seen)
    assert len(seen) == COUNT, f"consumed {len(seen)} of {COUNT}"
    a.commit(asynchronous=False)
    a.close()
    produce(bootstrap, COUNT, 40)
    c = member(bootstrap, "g1")
    later = []
    pump([c], "resume after the committed offsets", lambda: len(later) >= 40, sink=later)
    values = sorted(int(msg.value()[1:]) for _, msg in later)
    assert values == list(range(COUNT, COUNT + 40)), f"re-read or lost: {values[:5]}..."
    c.close()
    print("confluent-kafka groups: split, takeover after close, resume at committed offsets")


if __name__ == "__main__":
    main(sys.argv[1])
