"""confluent-kafka exactly-once consume-transform-produce (KIP-98, KIP-447) against a broker.

A transactional producer reads `eos-in` through a consumer group (read_committed, manual commits)
and, per chunk, writes the upper-cased values to `eos-out` and the group's next offsets with
send_offsets_to_transaction, then commits; one chunk in the middle is written and aborted
instead. A read_committed consumer then checks that `eos-out` holds every committed output exactly
once and none of the aborted ones, a read_uncommitted consumer that the aborted ones were
written, and the group's committed offsets are the input's end offsets.

Usage: python eos_confluent.py BOOTSTRAP
"""

import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

IN_TOPIC = "eos-in"
OUT_TOPIC = "eos-out"
PARTITIONS = 3
COUNT = 600
CHUNK = 50
GROUP = "eos-group"


def create_topics(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(t, PARTITIONS, 1) for t in (IN_TOPIC, OUT_TOPIC)]
    for f in admin.create_topics(topics).values():
        f.result(timeout=30)


def produce_input(bootstrap):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(COUNT):
        p.produce(IN_TOPIC, key=f"k{i}".encode(), value=f"m{i}".encode(), partition=i % PARTITIONS)
    assert p.flush(30) == 0


def transform(bootstrap):
    """Runs the loop; returns (committed outputs, aborted outputs)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "session.timeout.ms": 10000})
    consumer.subscribe([IN_TOPIC])
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "eos-transformer",
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(30)
    committed, aborted = set(), set()
    consumed = 0
    chunks = 0
    deadline = time.time() + 120
    while consumed < COUNT:
        assert time.time() < deadline, f"consumed only {consumed} of {COUNT}"
        batch = consumer.consume(CHUNK, 1.0)
        batch = [m for m in batch if m.error() is None]
        if not batch:
            continue
        chunks += 1
        outputs = [m.value().decode().upper() for m in batch]
        producer.begin_transaction()
        for m, out in zip(batch, outputs):
            producer.produce(OUT_TOPIC, key=m.key(), value=out.encode(), partition=m.partition())
        if chunks == 3:
            # The aborted chunk: written, then rolled back; the consumer rewinds to re-read it.
            producer.flush(30)
            producer.abort_transaction(30)
            aborted.update(outputs)
            positions = {}
            for m in batch:
                tp = (m.topic(), m.partition())
                positions[tp] = min(positions.get(tp, m.offset()), m.offset())
            for (topic, partition), offset in positions.items():
                consumer.seek(TopicPartition(topic, partition, offset))
            continue
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        committed.update(outputs)
        consumed += len(batch)
    consumer.close()
    assert aborted, "no transaction was aborted"
    # The aborted chunk was re-read and committed, so its outputs are committed too.
    assert aborted <= committed, "the aborted chunk was not re-processed"
    return committed, chunks


def read_all(bootstrap, isolation, expect_at_least):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"eos-check-{isolation}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "isolation.level": isolation})
    c.subscribe([OUT_TOPIC])
    values = []
    deadline = time.time() + 60
    idle_since = time.time()
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if len(values) >= expect_at_least and time.time() - idle_since > 3:
                break
            continue
        if m.error() is not None:
            continue
        idle_since = time.time()
        values.append(m.value().decode())
    c.close()
    return values


def main(bootstrap):
    create_topics(bootstrap)
    produce_input(bootstrap)
    committed, chunks = transform(bootstrap)
    expected = {f"M{i}" for i in range(COUNT)}
    assert committed == expected, "the loop did not commit every input once"

    seen = read_all(bootstrap, "read_committed", COUNT)
    dupes = len(seen) - len(set(seen))
    assert dupes == 0, f"read_committed saw {dupes} duplicates"
    assert set(seen) == expected, f"read_committed saw {len(set(seen))} distinct outputs, missing " \
        f"{sorted(expected - set(seen))[:5]}, extra {sorted(set(seen) - expected)[:5]}"
    assert len(seen) == COUNT

    # The aborted chunk's records are in the log: read_uncommitted sees them as well.
    raw = read_all(bootstrap, "read_uncommitted", COUNT + CHUNK // 2)
    assert len(raw) > COUNT, f"read_uncommitted saw {len(raw)} records, expected the aborted ones too"

    # The group's committed offsets are the input's end offsets.
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    offsets = probe.committed([TopicPartition(IN_TOPIC, p) for p in range(PARTITIONS)], timeout=30)
    for tp in offsets:
        assert tp.error is None, tp.error
        _, high = probe.get_watermark_offsets(TopicPartition(IN_TOPIC, tp.partition), timeout=30)
        assert tp.offset == high, f"partition {tp.partition}: committed {tp.offset}, end {high}"
    probe.close()
    print(f"confluent-kafka exactly-once: {COUNT} inputs in {chunks} transactions (one aborted), "
          f"{len(seen)} committed outputs once each, {len(raw) - COUNT} aborted ones hidden, offsets at the end")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except KafkaException as e:
        sys.exit(f"kafka error: {e}")
