"""confluent-kafka (librdkafka, bundled in the wheel) against Strata: create a 3-partition topic,
produce 10,000 keyed messages with headers under each codec, consume them back by assignment and
compare byte for byte and in order per partition.

Usage: python confluent_produce_consume.py BOOTSTRAP
"""

import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

COUNT = 10_000
PARTITIONS = 3


def expected(codec):
    return [
        (i % PARTITIONS, f"{codec}-key-{i}".encode(), f"{codec}-value-{i}-".encode() * (1 + i % 5),
         [("i", str(i).encode()), ("codec", codec.encode())])
        for i in range(COUNT)
    ]


def main(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
    futures = admin.create_topics([NewTopic(f"py-ck-{c}", PARTITIONS, 1) for c in codecs])
    for topic, future in futures.items():
        future.result(timeout=30)
    for codec in codecs:
        topic = f"py-ck-{codec}"
        messages = expected(codec)
        failures = []
        # Idempotence: the order and bytes checked below are only guaranteed with it (a retried
        # request may otherwise land twice or out of order, on Kafka as on Strata).
        producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "acks": "all",
                             "linger.ms": 5, "enable.idempotence": True})

        def report(err, _msg):
            if err is not None:
                failures.append(err)

        for partition, key, value, headers in messages:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, headers=headers, partition=partition,
                                     on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(60) == 0, "messages left unflushed"
        assert not failures, f"{codec}: delivery failures {failures[:3]}"

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"unused-{codec}",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        got = {p: [] for p in range(PARTITIONS)}
        total = 0
        idle = 0
        while total < COUNT and idle < 100:
            msg = consumer.poll(0.2)
            if msg is None:
                idle += 1
                continue
            assert msg.error() is None, f"{codec}: consume error {msg.error()}"
            idle = 0
            got[msg.partition()].append((msg.offset(), msg.key(), msg.value(), msg.headers()))
            total += 1
        consumer.close()
        for p in range(PARTITIONS):
            want = [m for m in messages if m[0] == p]
            have = got[p]
            assert len(have) == len(want), f"{codec}: partition {p}: {len(have)} of {len(want)} messages"
            for n, ((_, key, value, headers), (offset, k, v, h)) in enumerate(zip(want, have)):
                assert offset == n, f"{codec}: partition {p}: offset {offset} at position {n}"
                assert (k, v) == (key, value), f"{codec}: partition {p} offset {offset}: wrong bytes"
                assert list(h or []) == headers, f"{codec}: partition {p} offset {offset}: headers {h}"
        print(f"confluent-kafka {codec}: {COUNT} messages round-tripped")


if __name__ == "__main__":
    main(sys.argv[1])
