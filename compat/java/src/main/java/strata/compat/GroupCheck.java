package strata.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * {@code GroupCheck <bootstrap> <classic|consumer>}: a consumer group on a 4-partition topic, with
 * the given {@code group.protocol} (classic: JoinGroup/SyncGroup/Heartbeat; consumer: KIP-848's
 * ConsumerGroupHeartbeat).
 *
 * <ol>
 * <li>Consumers A and B join one group; the partitions split 2 and 2. 1,000 records per partition
 *     are then produced, and each is read exactly once, by the member that owns its partition, in
 *     offset order. Both commit; the committed offsets are 1,000 everywhere.</li>
 * <li>B closes; A takes over all four partitions; the next 100 per partition are produced, and A
 *     reads them from the committed offset 1,000 (no re-reads, no gaps), and commits.</li>
 * <li>A closes; a new consumer C in the same group starts at the committed 1,100 on every
 *     partition and reads exactly the 10 per partition produced after that, and nothing more.</li>
 * </ol>
 */
public final class GroupCheck {
    private static final int PARTITIONS = 4;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);

    private final String bootstrap;
    private final String protocol;
    private final String topic;
    private final String group;

    private GroupCheck(String bootstrap, String protocol) {
        this.bootstrap = bootstrap;
        this.protocol = protocol;
        this.topic = "java-group-" + protocol;
        this.group = "java-group-" + protocol;
    }

    public static void main(String[] args) {
        String protocol = args[1];
        if (!protocol.equals("classic") && !protocol.equals("consumer")) {
            throw new IllegalArgumentException("group protocol must be classic or consumer, not " + protocol);
        }
        Check.run("consumer group (group.protocol=" + protocol + ")", 170, () -> new GroupCheck(args[0], protocol).run());
    }

    /** One member: its consumer and what it has read, by partition, in read order. */
    private static final class Member {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final Map<TopicPartition, List<ConsumerRecord<String, String>>> read = new HashMap<>();

        Member(String name, KafkaConsumer<String, String> consumer) {
            this.name = name;
            this.consumer = consumer;
        }

        int poll() {
            int n = 0;
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                read.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), tp -> new ArrayList<>()).add(r);
                n++;
            }
            return n;
        }

        int total() {
            return read.values().stream().mapToInt(List::size).sum();
        }
    }

    private Member member(String name) {
        Properties props = Check.clientProps(bootstrap, "java-" + protocol + "-" + name);
        props.put("group.id", group);
        props.put("group.protocol", protocol);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        if (protocol.equals("classic")) {
            // The consumer protocol takes these from the broker and refuses them on the client.
            props.put("session.timeout.ms", "10000");
            props.put("heartbeat.interval.ms", "1000");
        }
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer());
        consumer.subscribe(List.of(topic));
        return new Member(name, consumer);
    }

    private static String value(int partition, long offset) {
        return "p" + partition + "-o" + offset;
    }

    /** Produces {@code perPartition} records to each partition; they must land at {@code firstOffset}... */
    private void produce(int perPartition, long firstOffset) throws Exception {
        Properties props = Check.clientProps(bootstrap, "java-" + protocol + "-producer");
        props.put("acks", "all");
        props.put("enable.idempotence", "true");
        props.put("max.block.ms", "30000");
        props.put("delivery.timeout.ms", "60000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < perPartition; i++) {
                for (int p = 0; p < PARTITIONS; p++) {
                    long offset = firstOffset + i;
                    futures.add(producer.send(new ProducerRecord<>(topic, p, "k" + p, value(p, offset))));
                }
            }
            producer.flush();
            int n = 0;
            for (int i = 0; i < perPartition; i++) {
                for (int p = 0; p < PARTITIONS; p++) {
                    RecordMetadata md = Check.await(futures.get(n++), "send to partition " + p);
                    Check.expectEqual(firstOffset + i, md.offset(), "offset of produced record %d on partition %d", i, p);
                }
            }
        }
    }

    /** Each partition in {@code partitions} must have been read exactly at offsets [from, to), in order, with the produced values. */
    private static void expectRead(Member m, Set<TopicPartition> partitions, long from, long to) {
        for (TopicPartition tp : partitions) {
            List<ConsumerRecord<String, String>> records = m.read.getOrDefault(tp, List.of());
            Check.expectEqual(to - from, (long) records.size(), "records %s read from %s (offsets %d..%d expected)",
                m.name, tp, from, to - 1);
            for (int i = 0; i < records.size(); i++) {
                ConsumerRecord<String, String> r = records.get(i);
                Check.expectEqual(from + i, r.offset(), "offset of %s's record #%d from %s", m.name, i, tp);
                Check.expectEqual(value(tp.partition(), r.offset()), r.value(), "value at %s offset %d", tp, r.offset());
            }
        }
        for (TopicPartition tp : m.read.keySet()) {
            Check.expect(partitions.contains(tp) || m.read.get(tp).isEmpty(),
                "%s read %d records from %s, which it was not assigned (its partitions: %s)", m.name, m.read.get(tp).size(), tp, partitions);
        }
    }

    private Set<TopicPartition> allPartitions() {
        Set<TopicPartition> all = new HashSet<>();
        for (int p = 0; p < PARTITIONS; p++) {
            all.add(new TopicPartition(topic, p));
        }
        return all;
    }

    private void expectCommitted(Member m, long offset) {
        Map<TopicPartition, OffsetAndMetadata> committed = m.consumer.committed(allPartitions(), Check.CALL_TIMEOUT);
        for (TopicPartition tp : allPartitions()) {
            OffsetAndMetadata om = committed.get(tp);
            Check.expect(om != null, "no committed offset for %s (as seen by %s)", tp, m.name);
            Check.expectEqual(offset, om.offset(), "committed offset of %s", tp);
        }
    }

    private void run() throws Exception {
        try (Admin admin = Check.admin(bootstrap, "java-" + protocol + "-admin")) {
            Check.createTopic(admin, topic, PARTITIONS, Map.of());
        }

        // 1. Two members split the partitions; every record is read once, by its partition's owner.
        Member a = member("a");
        Member b = member("b");
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (true) {
            a.poll();
            b.poll();
            Set<TopicPartition> overlap = new HashSet<>(a.consumer.assignment());
            overlap.retainAll(b.consumer.assignment());
            if (a.consumer.assignment().size() == 2 && b.consumer.assignment().size() == 2 && overlap.isEmpty()) {
                break;
            }
            Check.expect(System.nanoTime() < deadline, "the group did not split 2+2 within %d s: a has %s, b has %s",
                STEP_TIMEOUT.toSeconds(), a.consumer.assignment(), b.consumer.assignment());
        }
        Set<TopicPartition> ofA = Set.copyOf(a.consumer.assignment());
        Set<TopicPartition> ofB = Set.copyOf(b.consumer.assignment());
        Check.log("a and b split the partitions: a %s, b %s", ofA, ofB);

        produce(1000, 0);
        deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (a.total() + b.total() < PARTITIONS * 1000) {
            a.poll();
            b.poll();
            Check.expect(System.nanoTime() < deadline, "a and b read %d + %d of %d records within %d s",
                a.total(), b.total(), PARTITIONS * 1000, STEP_TIMEOUT.toSeconds());
        }
        a.poll();
        b.poll();
        Check.expectEqual(ofA, a.consumer.assignment(), "a's assignment after reading (no rebalance expected)");
        Check.expectEqual(ofB, b.consumer.assignment(), "b's assignment after reading (no rebalance expected)");
        expectRead(a, ofA, 0, 1000);
        expectRead(b, ofB, 0, 1000);
        a.consumer.commitSync(Check.CALL_TIMEOUT);
        b.consumer.commitSync(Check.CALL_TIMEOUT);
        expectCommitted(a, 1000);
        Check.log("each of the 4,000 records was read once, by its partition's owner; committed 1000 everywhere");

        // 2. B leaves; A takes over B's partitions from B's committed offsets.
        // The records come only once A owns all four: produced earlier, A could read its own two
        // partitions' new records before the rebalance and, having not committed them, read them
        // again after it (an eager rebalance drops positions), which is Kafka's at-least-once.
        b.consumer.close(Check.CALL_TIMEOUT);
        a.read.clear();
        deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (a.consumer.assignment().size() < PARTITIONS) {
            Check.expectEqual(0, a.poll(), "records polled by a while no new record exists");
            Check.expect(System.nanoTime() < deadline, "after b closed, a has %s, not all %d partitions, after %d s",
                a.consumer.assignment(), PARTITIONS, STEP_TIMEOUT.toSeconds());
        }
        produce(100, 1000);
        deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (a.total() < PARTITIONS * 100) {
            a.poll();
            Check.expect(System.nanoTime() < deadline, "after taking over, a read %d of %d new records within %d s",
                a.total(), PARTITIONS * 100, STEP_TIMEOUT.toSeconds());
        }
        a.poll();
        Check.expectEqual(allPartitions(), a.consumer.assignment(), "a's assignment after reading (no rebalance expected)");
        expectRead(a, allPartitions(), 1000, 1100);
        a.consumer.commitSync(Check.CALL_TIMEOUT);
        expectCommitted(a, 1100);
        Check.log("after b closed, a took over all 4 partitions and read offsets 1000..1099 of each once; committed 1100");

        // 3. A leaves; a new member resumes at the committed offsets.
        a.consumer.close(Check.CALL_TIMEOUT);
        produce(10, 1100);
        Member c = member("c");
        deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (c.total() < PARTITIONS * 10) {
            c.poll();
            Check.expect(System.nanoTime() < deadline, "new member c has %s and read %d of %d records within %d s",
                c.consumer.assignment(), c.total(), PARTITIONS * 10, STEP_TIMEOUT.toSeconds());
        }
        long quiet = System.nanoTime() + Duration.ofSeconds(1).toNanos();
        while (System.nanoTime() < quiet) {
            c.poll();
        }
        Check.expectEqual(allPartitions(), c.consumer.assignment(), "c's assignment");
        expectRead(c, allPartitions(), 1100, 1110);
        for (TopicPartition tp : allPartitions()) {
            Check.expectEqual(1110L, c.consumer.position(tp, Check.CALL_TIMEOUT), "c's position on %s", tp);
        }
        c.consumer.close(Check.CALL_TIMEOUT);
        Check.log("new member c resumed at the committed 1100 on every partition and read exactly 1100..1109");
    }
}
