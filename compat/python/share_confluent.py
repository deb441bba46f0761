"""confluent-kafka ShareConsumers (KIP-932 share groups, issue 16) against Strata:
three consumers of one share group on a 2-partition topic receive each of 600 records exactly once
(point-to-point); an explicit-mode consumer's released records come back with delivery count 2
and its rejected ones never do; a consumer closed mid-batch without acknowledging loses nothing
(another consumer gets its records).

The group starts at the log start (group config share.auto.offset.reset=earliest, set with the
AdminClient before any consumer joins).

Run against Strata only: librdkafka 2.16's share consumer is a preview that does not work with
reference Kafka 4.1.2 (there its ShareFetch and ShareAcknowledge get errors it does not know, and
in three runs one partition's records never came, or a new consumer got none within a minute);
Kafka's own KafkaShareConsumer runs the Kafka-judged share scenario (java.sh, ShareCheck).

Usage: python share_confluent.py BOOTSTRAP
"""

import sys
import time

from confluent_kafka import AcknowledgeType, Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

TOPIC = "py-share"
PARTITIONS = 2
COUNT = 600
STEP = 60.0


def earliest(admin, group):
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(timeout=30)


def consumer(bootstrap, group, mode="implicit"):
    c = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group, "share.acknowledgement.mode": mode})
    c.subscribe([TOPIC])
    return c


def produce(bootstrap, prefix, count):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        p.produce(TOPIC, key=f"{prefix}{i}".encode(), value=b"v", partition=i % PARTITIONS)
    assert p.flush(30) == 0


def poll(c, timeout=0.2):
    return [m for m in (c.poll(timeout) or []) if m.error() is None]


def point_to_point(bootstrap, admin):
    earliest(admin, "py-share-p2p")
    consumers = [consumer(bootstrap, "py-share-p2p") for _ in range(3)]
    produce(bootstrap, "r", COUNT)
    seen, per = {}, [0, 0, 0]
    deadline = time.time() + STEP
    while len(seen) < COUNT:
        assert time.time() < deadline, f"{len(seen)} of {COUNT} records within {STEP} s"
        for i, c in enumerate(consumers):
            for m in poll(c):
                key = m.key().decode()
                seen[key] = seen.get(key, 0) + 1
                per[i] += 1
    # Implicit mode accepts a poll's records with the next poll: let every consumer poll once more,
    # then nothing may come again.
    quiet = time.time() + 2
    while time.time() < quiet:
        for c in consumers:
            for m in poll(c):
                key = m.key().decode()
                seen[key] = seen.get(key, 0) + 1
    twice = {k: n for k, n in seen.items() if n != 1}
    assert not twice, f"delivered more than once: {list(twice.items())[:5]}"
    for c in consumers:
        c.close()
    print(f"{COUNT} records, each delivered once across three consumers {per}")


def acknowledgements(bootstrap, admin):
    group = "py-share-acks"
    earliest(admin, group)
    c = consumer(bootstrap, group, "explicit")
    first, again = {}, {}
    deadline = time.time() + STEP
    while len(first) < COUNT or len(again) < COUNT // 10:
        assert time.time() < deadline, f"first deliveries {len(first)} of {COUNT}, again {len(again)} of {COUNT // 10}"
        for m in poll(c):
            key = m.key().decode()
            number = int(key[1:])
            if key in first:
                assert number % 10 == 0, f"only released records come back, got {key}"
                again[key] = m.delivery_count()
                c.acknowledge(m, AcknowledgeType.ACCEPT)
                continue
            first[key] = m.delivery_count()
            ack = AcknowledgeType.RELEASE if number % 10 == 0 else AcknowledgeType.REJECT if number % 10 == 1 \
                else AcknowledgeType.ACCEPT
            c.acknowledge(m, ack)
        c.commit_sync()
    assert set(first.values()) == {1}, f"first delivery counts: {set(first.values())}"
    assert set(again.values()) == {2}, f"second delivery counts: {set(again.values())}"
    quiet = time.time() + 2
    while time.time() < quiet:
        for m in poll(c):
            raise AssertionError(f"nothing after accepting and rejecting everything, got {m.key()}")
    c.close()
    print(f"{COUNT // 10} released records delivered again with delivery count 2, {COUNT // 10} rejected never")


def closed_mid_batch(bootstrap, admin):
    group = "py-share-close"
    earliest(admin, group)
    a = consumer(bootstrap, group, "explicit")
    held = []
    deadline = time.time() + STEP
    while not held:
        assert time.time() < deadline, "a gets records"
        held = poll(a)
    # a closes holding them unacknowledged: they go back to the group.
    a.close()
    b = consumer(bootstrap, group, "explicit")
    wanted = {(m.partition(), m.offset()) for m in held}
    got = set()
    deadline = time.time() + STEP
    while not wanted <= got:
        assert time.time() < deadline, f"records a held reach b: {len(wanted & got)} of {len(wanted)}"
        for m in poll(b):
            got.add((m.partition(), m.offset()))
            b.acknowledge(m, AcknowledgeType.ACCEPT)
        b.commit_sync()
    b.close()
    print(f"{len(wanted)} records held by a consumer closed mid-batch reached another")


def main(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
        f.result(timeout=30)
    point_to_point(bootstrap, admin)
    acknowledgements(bootstrap, admin)
    closed_mid_batch(bootstrap, admin)


if __name__ == "__main__":
    main(sys.argv[1])
