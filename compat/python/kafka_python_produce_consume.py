"""kafka-python (pure Python, its own protocol code and version negotiation) against Strata:
create a topic with the admin client, produce 10,000 keyed messages with headers (uncompressed
and gzip), consume them back by assignment, compare byte for byte and in order; look up an offset
by timestamp.

Usage: python kafka_python_produce_consume.py BOOTSTRAP
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

COUNT = 10_000
PARTITIONS = 3
# An hour ago: far older timestamps would be deleted by time retention (7 days by default).
BASE_TS = int(time.time()) * 1000 - 3_600_000


def main(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(f"py-kp-{c}", PARTITIONS, 1) for c in ("none", "gzip")])
    admin.close()
    for codec in ("none", "gzip"):
        topic = f"py-kp-{codec}"
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                 compression_type=None if codec == "none" else codec, linger_ms=5)
        futures = []
        for i in range(COUNT):
            futures.append(producer.send(topic, key=f"k{i}".encode(), value=f"v{i}-".encode() * (1 + i % 7),
                                         headers=[("i", str(i).encode())], partition=i % PARTITIONS,
                                         timestamp_ms=BASE_TS + i))
        producer.flush(60)
        offsets = [f.get(timeout=30) for f in futures]
        producer.close()
        for i, meta in enumerate(offsets):
            assert meta.partition == i % PARTITIONS and meta.offset == i // PARTITIONS, \
                f"{codec}: message {i} at {meta.partition}/{meta.offset}"

        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                 consumer_timeout_ms=10_000)
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        seen = {p: 0 for p in range(PARTITIONS)}
        total = 0
        for msg in consumer:
            i = msg.offset * PARTITIONS + msg.partition
            assert msg.offset == seen[msg.partition], f"{codec}: offset {msg.offset} out of order"
            seen[msg.partition] += 1
            assert msg.key == f"k{i}".encode(), f"{codec}: key at {msg.partition}/{msg.offset}"
            assert msg.value == f"v{i}-".encode() * (1 + i % 7), f"{codec}: value at {msg.partition}/{msg.offset}"
            assert list(msg.headers) == [("i", str(i).encode())], f"{codec}: headers {msg.headers}"
            assert msg.timestamp == BASE_TS + i, f"{codec}: timestamp {msg.timestamp}"
            total += 1
            if total == COUNT:
                break
        assert total == COUNT, f"{codec}: consumed {total} of {COUNT}"
        found = consumer.offsets_for_times({parts[1]: BASE_TS + 301})
        # Message 301 is in partition 1 (301 % 3 == 1) at offset 100.
        assert found[parts[1]].offset == 100, f"{codec}: offsets_for_times gave {found[parts[1]]}"
        assert consumer.offsets_for_times({parts[1]: BASE_TS + COUNT + 1})[parts[1]] is None
        consumer.close()
        print(f"kafka-python {codec}: {COUNT} messages round-tripped")


if __name__ == "__main__":
    main(sys.argv[1])
