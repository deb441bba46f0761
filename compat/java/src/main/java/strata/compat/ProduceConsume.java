package strata.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code ProduceConsume <bootstrap> <codec> [records]}: an idempotent producer (acks=all) writes
 * {@code records} (10,000) keyed records with headers and explicit timestamps, compressed with
 * {@code codec} (none, gzip, snappy, lz4, zstd), into a fresh 3-partition topic. The offsets the
 * broker returns must be contiguous from 0 in send order on each partition. A consumer then reads
 * the partitions from the beginning, and every record must come back at the offset the producer was
 * told, in order, with the same key, value (some null), headers (order, duplicates, empty and null
 * values) and timestamp, and nothing more.
 */
public final class ProduceConsume {
    private static final int PARTITIONS = 3;

    public static void main(String[] args) {
        String bootstrap = args[0];
        String codec = args[1];
        int count = args.length > 2 ? Integer.parseInt(args[2]) : 10_000;
        Check.run("produce/consume codec=" + codec, 150, () -> run(bootstrap, codec, count));
    }

    static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    /** Values of varied length, half compressible text, half pseudo-random bytes; every 997th is null. */
    static byte[] value(int i) {
        if (i % 997 == 0) {
            return null;
        }
        Random random = new Random(i);
        byte[] noise = new byte[random.nextInt(200)];
        random.nextBytes(noise);
        byte[] text = ("value-" + i + "-" + "abcdefghij".repeat(i % 50)).getBytes(StandardCharsets.UTF_8);
        byte[] value = Arrays.copyOf(text, text.length + noise.length);
        System.arraycopy(noise, 0, value, text.length, noise.length);
        return value;
    }

    static List<Header> headers(int i, String codec) {
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("index", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
        headers.add(new RecordHeader("codec", codec.getBytes(StandardCharsets.UTF_8)));
        if (i % 3 == 0) {
            headers.add(new RecordHeader("empty", new byte[0]));
        }
        if (i % 5 == 0) {
            headers.add(new RecordHeader("null", null));
        }
        if (i % 7 == 0) {
            headers.add(new RecordHeader("dup", "a".getBytes(StandardCharsets.UTF_8)));
            headers.add(new RecordHeader("dup", "b".getBytes(StandardCharsets.UTF_8)));
        }
        return headers;
    }

    static String describe(Iterable<Header> headers) {
        StringBuilder out = new StringBuilder("[");
        for (Header h : headers) {
            out.append(h.key()).append('=')
                .append(h.value() == null ? "null" : "'" + new String(h.value(), StandardCharsets.UTF_8) + "'")
                .append(' ');
        }
        return out.append(']').toString();
    }

    static void run(String bootstrap, String codec, int count) throws Exception {
        String topic = "java-produce-" + codec;
        try (Admin admin = Check.admin(bootstrap, "java-produce-admin")) {
            Check.createTopic(admin, topic, PARTITIONS, Map.of());
        }
        Check.log("created %s with %d partitions", topic, PARTITIONS);

        long baseTimestamp = System.currentTimeMillis() - 60_000;
        Properties producerProps = Check.clientProps(bootstrap, "java-producer-" + codec);
        producerProps.put("acks", "all");
        producerProps.put("enable.idempotence", "true");
        producerProps.put("compression.type", codec);
        producerProps.put("linger.ms", "5");
        producerProps.put("max.in.flight.requests.per.connection", "5");
        producerProps.put("delivery.timeout.ms", "60000");
        producerProps.put("max.block.ms", "30000");
        List<RecordMetadata> sent = new ArrayList<>(count);
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> futures = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                futures.add(producer.send(
                    new ProducerRecord<>(topic, null, baseTimestamp + i, key(i), value(i), headers(i, codec))));
            }
            producer.flush();
            for (int i = 0; i < count; i++) {
                sent.add(Check.await(futures.get(i), "send of record " + i));
            }
        }

        // Offsets per partition, in send order, must be 0, 1, 2, ... with no gap or repeat.
        long[] nextOffset = new long[PARTITIONS];
        Map<TopicPartition, List<Integer>> indexAt = new HashMap<>();
        for (int i = 0; i < count; i++) {
            RecordMetadata md = sent.get(i);
            Check.expectEqual(topic, md.topic(), "record %d metadata topic", i);
            Check.expect(md.partition() >= 0 && md.partition() < PARTITIONS, "record %d went to partition %d", i, md.partition());
            Check.expect(md.hasOffset(), "record %d metadata has no offset", i);
            Check.expectEqual(nextOffset[md.partition()], md.offset(),
                "record %d offset on partition %d (offsets must be contiguous in send order)", i, md.partition());
            Check.expectEqual(baseTimestamp + i, md.timestamp(), "record %d metadata timestamp", i);
            nextOffset[md.partition()]++;
            indexAt.computeIfAbsent(new TopicPartition(topic, md.partition()), tp -> new ArrayList<>()).add(i);
        }
        for (int p = 0; p < PARTITIONS; p++) {
            Check.expect(nextOffset[p] > 0, "no record was sent to partition %d", p);
        }
        Check.log("produced %d records (%s), offsets contiguous per partition: %s", count, codec, Arrays.toString(nextOffset));

        Properties consumerProps = Check.clientProps(bootstrap, "java-consumer-" + codec);
        consumerProps.put("enable.auto.commit", "false");
        consumerProps.put("auto.offset.reset", "none");
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>(indexAt.keySet());
            consumer.assign(partitions);
            Map<TopicPartition, Long> beginning = consumer.beginningOffsets(partitions, Check.CALL_TIMEOUT);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Check.CALL_TIMEOUT);
            for (TopicPartition tp : partitions) {
                Check.expectEqual(0L, beginning.get(tp), "beginning offset of %s", tp);
                Check.expectEqual((long) indexAt.get(tp).size(), end.get(tp), "end offset of %s", tp);
            }
            consumer.seekToBeginning(partitions);

            Map<TopicPartition, Long> expectedNext = new HashMap<>();
            partitions.forEach(tp -> expectedNext.put(tp, 0L));
            int received = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (received < count) {
                Check.expect(System.nanoTime() < deadline, "consumed %d of %d records within 60 s; next offsets %s",
                    received, count, expectedNext);
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    Check.expectEqual(expectedNext.get(tp), r.offset(), "offset of the next record read from %s", tp);
                    expectedNext.put(tp, r.offset() + 1);
                    List<Integer> indexes = indexAt.get(tp);
                    Check.expect(r.offset() < indexes.size(), "record at %s offset %d is past the %d produced there",
                        tp, r.offset(), indexes.size());
                    int i = indexes.get((int) r.offset());
                    Check.expect(Arrays.equals(key(i), r.key()), "key at %s offset %d (record %d)", tp, r.offset(), i);
                    Check.expect(Arrays.equals(value(i), r.value()), "value at %s offset %d (record %d): expected %s bytes, got %s",
                        tp, r.offset(), i, value(i) == null ? "null" : value(i).length, r.value() == null ? "null" : r.value().length);
                    Check.expectEqual(describe(headers(i, codec)), describe(r.headers()),
                        "headers at %s offset %d (record %d)", tp, r.offset(), i);
                    Check.expectEqual(TimestampType.CREATE_TIME, r.timestampType(), "timestamp type at %s offset %d", tp, r.offset());
                    Check.expectEqual(baseTimestamp + i, r.timestamp(), "timestamp at %s offset %d", tp, r.offset());
                    received++;
                }
            }
            // Nothing may follow the records that were produced.
            int extra = consumer.poll(Duration.ofMillis(500)).count();
            Check.expectEqual(0, extra, "records read after all %d produced ones", count);
            for (TopicPartition tp : partitions) {
                Check.expectEqual(end.get(tp), consumer.position(tp, Check.CALL_TIMEOUT), "position of %s after reading all", tp);
            }
        }
        Check.log("consumed all %d back: offsets, keys, values, headers, timestamps and order match", count);
    }
}
