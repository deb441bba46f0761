package strata.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code EosCheck <bootstrap>}: an exactly-once consume-transform-produce loop with Kafka's Java
 * client (kafka-clients 4.1 speaks transaction version 2 when the broker finalizes it, so
 * {@code sendOffsetsToTransaction} sends no AddOffsetsToTxn: TxnOffsetCommit v5 adds the group's
 * partition to the transaction). 300 input records over 3 partitions are read by a read_committed
 * consumer group and written upper-cased, each poll in a transaction with the group's next
 * offsets; the third transaction is aborted and its input read again. A read_committed consumer
 * then sees every output exactly once, and the group's committed offsets are the input's ends.
 */
public final class EosCheck {
    private static final int PARTITIONS = 3;
    private static final int COUNT = 300;

    public static void main(String[] args) {
        String bootstrap = args[0];
        Check.run("exactly-once", 200, () -> run(bootstrap));
    }

    static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, String group) {
        Properties props = Check.clientProps(bootstrap, "eos-check-" + group);
        props.put("group.id", group);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        props.put("isolation.level", "read_committed");
        props.put("max.poll.records", "40");
        return new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static void run(String bootstrap) throws Exception {
        String in = "java-eos-in-" + System.nanoTime();
        String out = in.replace("-in-", "-out-");
        String group = in + "-group";
        try (Admin admin = Check.admin(bootstrap, "eos-check-admin")) {
            Check.createTopic(admin, in, PARTITIONS, Map.of());
            Check.createTopic(admin, out, PARTITIONS, Map.of());
            try (KafkaProducer<byte[], byte[]> plain = new KafkaProducer<>(Check.clientProps(bootstrap, "eos-input"),
                    new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < COUNT; i++) {
                    plain.send(new ProducerRecord<>(in, i % PARTITIONS, null, ("m" + i).getBytes(StandardCharsets.UTF_8)));
                }
                plain.flush();
            }
            transform(bootstrap, in, out, group);
            Set<String> seen = new HashSet<>();
            int records = 0;
            try (KafkaConsumer<byte[], byte[]> reader = consumer(bootstrap, group + "-reader")) {
                reader.subscribe(List.of(out));
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (records < COUNT && System.nanoTime() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r : reader.poll(Duration.ofMillis(200))) {
                        seen.add(new String(r.value(), StandardCharsets.UTF_8));
                        records++;
                    }
                }
                // Anything more (a duplicate) would arrive within this second.
                records += reader.poll(Duration.ofSeconds(1)).count();
            }
            Check.expectEqual(COUNT, records, "read_committed outputs");
            Check.expectEqual(COUNT, seen.size(), "distinct outputs");
            Map<Integer, Long> ends = new TreeMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                ends.put(p, (long) (COUNT / PARTITIONS));
            }
            Check.expectEventually(ends, () -> committedOffsets(admin, group, in), "group %s's committed offsets of %s", group, in);
            Check.log("%d inputs, %d outputs once each, offsets at the ends", COUNT, seen.size());
        }
    }

    /** The group's committed offsets of {@code topic}'s partitions, by partition. */
    private static Map<Integer, Long> committedOffsets(Admin admin, String group, String topic) throws Exception {
        Map<Integer, Long> offsets = new TreeMap<>();
        Check.await(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), "listConsumerGroupOffsets")
            .forEach((tp, om) -> {
                if (om != null && tp.topic().equals(topic)) {
                    offsets.put(tp.partition(), om.offset());
                }
            });
        return offsets;
    }

    static void transform(String bootstrap, String in, String out, String group) throws Exception {
        Properties props = Check.clientProps(bootstrap, "eos-check-producer");
        props.put("transactional.id", group + "-tx");
        props.put("transaction.timeout.ms", "60000");
        props.put("max.block.ms", "30000");
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(bootstrap, group);
             KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.initTransactions();
            consumer.subscribe(List.of(in));
            int done = 0;
            int transactions = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (done < COUNT) {
                Check.expect(System.nanoTime() < deadline, "consumed only %d of %d", done, COUNT);
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(500));
                if (batch.isEmpty()) {
                    continue;
                }
                transactions++;
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                Map<TopicPartition, Long> first = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    String value = new String(r.value(), StandardCharsets.UTF_8).toUpperCase();
                    producer.send(new ProducerRecord<>(out, r.partition(), null, value.getBytes(StandardCharsets.UTF_8)));
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    next.put(tp, new OffsetAndMetadata(r.offset() + 1));
                    first.putIfAbsent(tp, r.offset());
                }
                if (transactions == 3) {
                    producer.abortTransaction();
                    first.forEach(consumer::seek);
                    continue;
                }
                producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
                producer.commitTransaction();
                done += batch.count();
            }
        }
    }
}
