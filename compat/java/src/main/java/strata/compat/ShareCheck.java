package strata.compat;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * {@code ShareCheck <bootstrap>}: share groups (KIP-932) with Kafka's own {@code KafkaShareConsumer}.
 *
 * <ol>
 * <li>Two share consumers of one group subscribe to a 2-partition topic. Once each partition has
 *     handed a warm-up record to one of them (a share group starts at the partition's end), 1,000
 *     records are produced; together the two consumers receive each exactly once (implicit
 *     acknowledgement accepts what a poll returned). The Admin client describes the group: two
 *     members, stable.</li>
 * <li>A consumer with explicit acknowledgement releases the 10 records it gets; they come back
 *     with delivery count 2, it accepts them, and nothing comes after.</li>
 * <li>A group config set with the Admin client before the group exists
 *     ({@code share.auto.offset.reset=earliest}) is described back, and the group's first
 *     consumer then gets records produced before it joined.</li>
 * <li>With that group empty, the Admin client lists its start offset and deletes its offsets of
 *     the topic; the group's next consumer reads from the log start again.</li>
 * <li>A group set to {@code share.isolation.level=read_committed} gets a transactional producer's
 *     committed records, never its aborted ones, and a record of a transaction still open only
 *     once it commits.</li>
 * </ol>
 */
public final class ShareCheck {
    private static final String TOPIC = "java-share";
    private static final String TXN_TOPIC = "java-share-txn";
    private static final Duration POLL = Duration.ofMillis(200);
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);

    private final String bootstrap;

    private ShareCheck(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    public static void main(String[] args) {
        Check.run("share groups (KafkaShareConsumer)", 200, () -> new ShareCheck(args[0]).run());
    }

    private KafkaShareConsumer<String, String> consumer(String group, String mode) {
        return consumerOf(group, mode, TOPIC);
    }

    private KafkaShareConsumer<String, String> consumerOf(String group, String topic) {
        return consumerOf(group, "explicit", topic);
    }

    private KafkaShareConsumer<String, String> consumerOf(String group, String mode, String topic) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", group);
        props.put("share.acknowledgement.mode", mode);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("request.timeout.ms", "30000");
        KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(props);
        consumer.subscribe(List.of(topic));
        return consumer;
    }

    private KafkaProducer<String, String> producer() {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("acks", "all");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        return new KafkaProducer<>(props);
    }

    private void run() throws Exception {
        try (Admin admin = Check.admin(bootstrap, "share-check-admin")) {
            Check.createTopic(admin, TOPIC, 2, Map.of());
        }
        try (KafkaProducer<String, String> producer = producer();
                KafkaShareConsumer<String, String> a = consumer("java-share-group", "implicit");
                KafkaShareConsumer<String, String> b = consumer("java-share-group", "implicit")) {
            warmUp(producer, List.of(a, b), Set.of(0, 1), false);
            for (int i = 0; i < 1000; i++) {
                producer.send(new ProducerRecord<>(TOPIC, i % 2, "r-" + i, "v-" + i));
            }
            producer.flush();
            Map<String, Integer> seen = new HashMap<>();
            Map<String, Integer> perConsumer = new HashMap<>();
            long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
            while (countReal(seen) < 1000) {
                Check.expect(System.nanoTime() < deadline, "1,000 records within %s, got %d", STEP_TIMEOUT, countReal(seen));
                for (KafkaShareConsumer<String, String> c : List.of(a, b)) {
                    for (ConsumerRecord<String, String> r : c.poll(POLL)) {
                        seen.merge(r.key(), 1, Integer::sum);
                        perConsumer.merge(c == a ? "a" : "b", 1, Integer::sum);
                    }
                }
            }
            for (Map.Entry<String, Integer> e : seen.entrySet()) {
                if (e.getKey().startsWith("r-")) {
                    Check.expect(e.getValue() == 1, "record %s delivered once, not %d times", e.getKey(), e.getValue());
                }
            }
            System.out.println("1,000 records, each delivered once: " + perConsumer);
            try (Admin admin = Check.admin(bootstrap, "share-check-describe")) {
                ShareGroupDescription described = admin.describeShareGroups(List.of("java-share-group"))
                    .all().get(30, TimeUnit.SECONDS).get("java-share-group");
                Check.expect(described.members().size() == 2, "two members described, got %s", described.members());
                Check.expect(described.groupState() == GroupState.STABLE, "a stable group, got %s", described.groupState());
                System.out.println("describeShareGroups: " + described.members().size() + " members, " + described.groupState());
            }
        }
        try (KafkaProducer<String, String> producer = producer();
                KafkaShareConsumer<String, String> e = consumer("java-share-explicit", "explicit")) {
            warmUp(producer, List.of(e), Set.of(0), true);
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(TOPIC, 0, "x-" + i, "v-" + i));
            }
            producer.flush();
            List<ConsumerRecord<String, String>> first = collect(e, 10, "x-");
            for (ConsumerRecord<String, String> r : first) {
                Check.expect(r.deliveryCount().orElse((short) 0) == 1, "first delivery of %s: %s", r.key(), r.deliveryCount());
                e.acknowledge(r, AcknowledgeType.RELEASE);
            }
            e.commitSync();
            List<ConsumerRecord<String, String>> again = collect(e, 10, "x-");
            for (ConsumerRecord<String, String> r : again) {
                Check.expect(r.deliveryCount().orElse((short) 0) == 2, "second delivery of %s: %s", r.key(), r.deliveryCount());
                e.acknowledge(r, AcknowledgeType.ACCEPT);
            }
            e.commitSync();
            long quietUntil = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (System.nanoTime() < quietUntil) {
                for (ConsumerRecord<String, String> r : e.poll(POLL)) {
                    Check.expect(!r.key().startsWith("x-"), "nothing after the accepted records, got %s", r.key());
                    e.acknowledge(r, AcknowledgeType.ACCEPT);
                }
            }
            System.out.println("10 records released, delivered again with delivery count 2, accepted");
        }
        earliestByGroupConfig();
        offsetsByAdmin();
        readCommitted();
    }

    private void readCommitted() throws Exception {
        String group = "java-share-read-committed";
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        try (Admin admin = Check.admin(bootstrap, "share-check-isolation")) {
            Check.createTopic(admin, TXN_TOPIC, 1, Map.of());
            List<AlterConfigOp> ops = List.of(
                new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("share.isolation.level", "read_committed"), AlterConfigOp.OpType.SET));
            admin.incrementalAlterConfigs(Map.of(resource, ops)).all().get(30, TimeUnit.SECONDS);
        }
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("transactional.id", "java-share-txn");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props);
                KafkaShareConsumer<String, String> c = consumerOf(group, TXN_TOPIC)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 3; i++) {
                producer.send(new ProducerRecord<>(TXN_TOPIC, 0, "c-" + i, "v"));
            }
            producer.commitTransaction();
            producer.beginTransaction();
            for (int i = 0; i < 2; i++) {
                producer.send(new ProducerRecord<>(TXN_TOPIC, 0, "a-" + i, "v"));
            }
            producer.abortTransaction();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(TXN_TOPIC, 0, "o-0", "v"));
            producer.flush();
            Set<String> got = readCommittedKeys(c, 3);
            Check.expect(got.equals(Set.of("c-0", "c-1", "c-2")), "the committed records only, got %s", got);
            producer.commitTransaction();
            got = readCommittedKeys(c, 1);
            Check.expect(got.equals(Set.of("o-0")), "the record of the transaction committed last, got %s", got);
        }
        System.out.println("share.isolation.level=read_committed: committed records only, an open transaction's once committed");
    }

    /** Polls until {@code count} records came and two more seconds bring none; their keys. */
    private static Set<String> readCommittedKeys(KafkaShareConsumer<String, String> consumer, int count) {
        Set<String> got = new HashSet<>();
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        long quietUntil = Long.MAX_VALUE;
        while (System.nanoTime() < quietUntil) {
            Check.expect(System.nanoTime() < deadline, "%d records within %s, got %s", count, STEP_TIMEOUT, got);
            for (ConsumerRecord<String, String> r : consumer.poll(POLL)) {
                got.add(r.key());
                consumer.acknowledge(r, AcknowledgeType.ACCEPT);
            }
            consumer.commitSync();
            if (got.size() >= count && quietUntil == Long.MAX_VALUE) {
                quietUntil = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            }
        }
        return got;
    }

    private void offsetsByAdmin() throws Exception {
        String group = "java-share-earliest";
        TopicPartition tp = new TopicPartition(TOPIC, 1);
        try (Admin admin = Check.admin(bootstrap, "share-check-offsets")) {
            OffsetAndMetadata start = admin.listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec()))
                .partitionsToOffsetAndMetadata(group).get(30, TimeUnit.SECONDS).get(tp);
            Check.expect(start != null && start.offset() >= 5, "a start offset past the 5 records, got %s", start);
            admin.deleteShareGroupOffsets(group, Set.of(TOPIC)).all().get(30, TimeUnit.SECONDS);
        }
        // Its state deleted, the group starts again where share.auto.offset.reset says: the log start.
        try (KafkaShareConsumer<String, String> c = consumer(group, "explicit")) {
            for (ConsumerRecord<String, String> r : collect(c, 5, "e-")) {
                c.acknowledge(r, AcknowledgeType.ACCEPT);
            }
            c.commitSync();
        }
        System.out.println("share group offsets listed and deleted with the Admin client; the group read from the start again");
    }

    private void earliestByGroupConfig() throws Exception {
        String group = "java-share-earliest";
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        try (Admin admin = Check.admin(bootstrap, "share-check-configs")) {
            AlterConfigOp earliest = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
            admin.incrementalAlterConfigs(Map.of(resource, List.of(earliest))).all().get(30, TimeUnit.SECONDS);
            Config described = admin.describeConfigs(List.of(resource)).all().get(30, TimeUnit.SECONDS).get(resource);
            ConfigEntry entry = described.get("share.auto.offset.reset");
            Check.expect(entry != null && "earliest".equals(entry.value()), "share.auto.offset.reset described back, got %s", entry);
        }
        try (KafkaProducer<String, String> producer = producer()) {
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(TOPIC, 1, "e-" + i, "v-" + i));
            }
            producer.flush();
        }
        try (KafkaShareConsumer<String, String> c = consumer(group, "explicit")) {
            List<ConsumerRecord<String, String>> early = collect(c, 5, "e-");
            for (ConsumerRecord<String, String> r : early) {
                c.acknowledge(r, AcknowledgeType.ACCEPT);
            }
            c.commitSync();
        }
        System.out.println("group config share.auto.offset.reset=earliest: 5 records produced before the group, received");
    }

    /** Produces a warm-up record to each of {@code partitions} until one of the consumers got one. */
    private static void warmUp(
            KafkaProducer<String, String> producer, List<KafkaShareConsumer<String, String>> consumers, Set<Integer> partitions,
            boolean explicit) throws Exception {
        Set<Integer> warm = new HashSet<>();
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (!warm.containsAll(partitions)) {
            Check.expect(System.nanoTime() < deadline, "warm-up records reach the share group, got partitions %s", warm);
            for (int p : partitions) {
                if (!warm.contains(p)) {
                    producer.send(new ProducerRecord<>(TOPIC, p, "warm-up", "w")).get();
                }
            }
            for (KafkaShareConsumer<String, String> c : consumers) {
                ConsumerRecords<String, String> records = c.poll(POLL);
                for (ConsumerRecord<String, String> r : records) {
                    if (r.key().equals("warm-up")) {
                        warm.add(r.partition());
                    }
                    if (explicit) {
                        c.acknowledge(r, AcknowledgeType.ACCEPT);
                    }
                }
            }
        }
    }

    /** Polls until {@code count} records keyed with {@code prefix} came. */
    private static List<ConsumerRecord<String, String>> collect(
            KafkaShareConsumer<String, String> consumer, int count, String prefix) {
        List<ConsumerRecord<String, String>> got = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (got.size() < count) {
            Check.expect(System.nanoTime() < deadline, "%d records within %s, got %d", count, STEP_TIMEOUT, got.size());
            for (ConsumerRecord<String, String> r : consumer.poll(POLL)) {
                if (r.key().startsWith(prefix)) {
                    got.add(r);
                } else {
                    consumer.acknowledge(r, AcknowledgeType.ACCEPT);
                }
            }
        }
        return got;
    }

    private static int countReal(Map<String, Integer> seen) {
        int n = 0;
        for (String key : seen.keySet()) {
            if (key.startsWith("r-")) {
                n++;
            }
        }
        return n;
    }
}
