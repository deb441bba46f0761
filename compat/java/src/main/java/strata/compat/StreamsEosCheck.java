package strata.compat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * {@code StreamsEosCheck <bootstrap> [suffix]}: Kafka Streams (kafka-streams 4.1) counts words
 * with {@code processing.guarantee=exactly_once_v2}.
 *
 * <p>1,000 lines of 1 to 8 words each (from a 40-word vocabulary, seeded) are produced to a
 * 3-partition input before the application starts; the check counts the words itself. The topology
 * splits lines into words, re-keys by word (a repartition topic), counts in a RocksDB store (a
 * compacted changelog topic) and writes each count to a 3-partition output. Streams creates its
 * internal topics through CreateTopics with their configs, joins a classic group, and under
 * exactly_once_v2 writes output, changelog and repartition records and its input offsets in one
 * transaction per commit.
 *
 * <p>A read_committed consumer follows the output until every word's latest count is the expected
 * final count (the watchdog fails the check otherwise; so does the application's entering ERROR).
 * The store has no record cache, so every update reaches the output: each word's counts must read
 * 1, 2, 3, ... up to its final count, with no repeat and no gap, which a duplicate or a lost update
 * would break. Polls of at most 50 records spread the input over many transactions. After the application closes: the changelog topic is compacted, the
 * repartition topic exists, the group's committed input offsets (require_stable) are the input's
 * end offsets, and a full read_committed read of the output ends in the expected counts.
 */
public final class StreamsEosCheck {
    private static final int PARTITIONS = 3;
    private static final int LINES = 1000;
    private static final Duration RUN_TIMEOUT = Duration.ofSeconds(150);
    private static final String[] VOCABULARY = (
        "apple birch cedar delta ember fjord grove harbor island juniper kestrel lagoon meadow "
        + "nectar orchid pebble quarry raven saffron tundra umber valley willow xenon yarrow zephyr "
        + "amber basalt cobalt dune estuary flint glacier heron indigo jasper kelp lichen mesa nimbus").split(" ");

    private final String bootstrap;
    private final String suffix;
    private final Admin admin;

    private StreamsEosCheck(String bootstrap, String suffix) {
        this.bootstrap = bootstrap;
        this.suffix = suffix;
        this.admin = Check.admin(bootstrap, "java-streams-admin");
    }

    public static void main(String[] args) {
        StreamsEosCheck check = new StreamsEosCheck(args[0], args.length > 1 ? "-" + args[1] : "");
        Check.run("streams word count (exactly_once_v2)", 200, check::run);
    }

    private static List<String> lines() {
        Random random = new Random(20261203);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < LINES; i++) {
            int words = 1 + random.nextInt(8);
            StringBuilder line = new StringBuilder();
            for (int w = 0; w < words; w++) {
                if (w > 0) {
                    line.append(' ');
                }
                line.append(VOCABULARY[random.nextInt(VOCABULARY.length)]);
            }
            lines.add(line.toString());
        }
        return lines;
    }

    private static Map<String, Long> count(List<String> lines) {
        Map<String, Long> counts = new TreeMap<>();
        for (String line : lines) {
            for (String word : line.split(" ")) {
                counts.merge(word, 1L, Long::sum);
            }
        }
        return counts;
    }

    private KafkaStreams streams(String appId, String input, String output, Path stateDir) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.split(" ")))
            .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("counts"))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // No record cache: every count update reaches the output, so each word's counts must read
        // 1, 2, 3, ... exactly. Small polls spread the input over many transactions.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.consumerPrefix("max.poll.records"), 50);
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
        props.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 10_000);
        props.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1_000);
        return new KafkaStreams(builder.build(), props);
    }

    private void run() throws Exception {
        String appId = "java-streams-eos" + suffix;
        String input = "java-streams-in" + suffix;
        String output = "java-streams-out" + suffix;
        Check.createTopic(admin, input, PARTITIONS, Map.of());
        Check.createTopic(admin, output, PARTITIONS, Map.of());

        List<String> lines = lines();
        Map<String, Long> expected = count(lines);
        Map<TopicPartition, Long> inputEnds = new TreeMap<>(Comparator.comparingInt(TopicPartition::partition));
        Properties props = Check.clientProps(bootstrap, "java-streams-input");
        props.put("acks", "all");
        props.put("enable.idempotence", "true");
        props.put("max.block.ms", "30000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < lines.size(); i++) {
                futures.add(producer.send(new ProducerRecord<>(input, "line-" + i, lines.get(i))));
            }
            producer.flush();
            for (Future<RecordMetadata> f : futures) {
                RecordMetadata md = Check.await(f, "send of an input line");
                inputEnds.merge(new TopicPartition(input, md.partition()), md.offset() + 1, Math::max);
            }
        }
        long words = expected.values().stream().mapToLong(Long::longValue).sum();
        Check.log("input: %d lines, %d words (%d distinct), by partition up to %s", LINES, words, expected.size(), inputEnds);

        Path stateDir = Files.createTempDirectory("strata-compat-streams");
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<String> transitions = new ArrayList<>();
        KafkaStreams streams = streams(appId, input, output, stateDir);
        streams.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            synchronized (transitions) {
                transitions.add(before + "->" + now);
            }
        });
        streams.start();

        Map<String, Long> latest = new TreeMap<>();
        int updates = 0;
        Properties consumerProps = Check.clientProps(bootstrap, "java-streams-output");
        consumerProps.put("isolation.level", "read_committed");
        consumerProps.put("enable.auto.commit", "false");
        List<TopicPartition> outputPartitions = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            outputPartitions.add(new TopicPartition(output, p));
        }
        try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(consumerProps, new StringDeserializer(), new LongDeserializer())) {
            consumer.assign(outputPartitions);
            consumer.seekToBeginning(outputPartitions);
            long deadline = System.nanoTime() + RUN_TIMEOUT.toNanos();
            while (!latest.equals(expected)) {
                for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
                    updates++;
                    Long want = expected.get(r.key());
                    Check.expect(want != null, "output has a count for %s, which is no input word", r.key());
                    Check.expect(r.value() != null && r.value() <= want, "output count of %s is %s, past its final count %d",
                        r.key(), r.value(), want);
                    Long before = latest.put(r.key(), r.value());
                    long previous = before == null ? 0 : before;
                    Check.expectEqual(previous + 1, r.value(), "output count of %s after %d (output %s offset %d)",
                        r.key(), previous, new TopicPartition(r.topic(), r.partition()), r.offset());
                }
                Throwable t = failure.get();
                if (t != null) {
                    throw new AssertionError("the Streams application failed (states " + transitions + ")", t);
                }
                KafkaStreams.State state = streams.state();
                Check.expect(state != KafkaStreams.State.ERROR && state != KafkaStreams.State.NOT_RUNNING,
                    "the Streams application is %s (states %s)", state, transitions);
                if (System.nanoTime() > deadline) {
                    Map<String, String> wrong = new TreeMap<>();
                    expected.forEach((w, c) -> {
                        if (!c.equals(latest.get(w))) {
                            wrong.put(w, latest.get(w) + "/" + c);
                        }
                    });
                    throw new AssertionError(String.format(
                        "after %d s the output has %d of %d words at their final counts (state %s, states %s); got/expected: %s",
                        RUN_TIMEOUT.toSeconds(), expected.size() - wrong.size(), expected.size(), state, transitions, wrong));
                }
            }
        }
        Check.log("read_committed output reached the expected counts of all %d words after %d updates (states %s)",
            expected.size(), updates, transitions);

        // A clean close commits the last transaction; it must end in NOT_RUNNING, not ERROR.
        Check.expect(streams.close(Duration.ofSeconds(30)), "KafkaStreams.close did not finish within 30 s");
        Check.expectEqual(KafkaStreams.State.NOT_RUNNING, streams.state(), "state after close");
        streams.cleanUp();
        deleteTree(stateDir);

        String changelog = appId + "-counts-changelog";
        String repartition = appId + "-words-repartition";
        Set<String> topics = Check.await(admin.listTopics().names(), "listTopics");
        Check.expect(topics.contains(changelog) && topics.contains(repartition), "internal topics %s and %s not among %s",
            changelog, repartition, topics);
        Map<String, TopicDescription> described = Check.await(admin.describeTopics(List.of(changelog, repartition)).allTopicNames(),
            "describeTopics of the internal topics");
        Check.expectEqual(PARTITIONS, described.get(changelog).partitions().size(), "partitions of %s", changelog);
        Check.expectEqual(PARTITIONS, described.get(repartition).partitions().size(), "partitions of %s", repartition);
        ConfigResource changelogResource = new ConfigResource(ConfigResource.Type.TOPIC, changelog);
        ConfigResource repartitionResource = new ConfigResource(ConfigResource.Type.TOPIC, repartition);
        Map<ConfigResource, Config> configs = Check.await(admin.describeConfigs(List.of(changelogResource, repartitionResource)).all(),
            "describeConfigs of the internal topics");
        Check.expectEqual("compact", configs.get(changelogResource).get("cleanup.policy").value(), "cleanup.policy of %s", changelog);
        Check.expectEqual("delete", configs.get(repartitionResource).get("cleanup.policy").value(), "cleanup.policy of %s", repartition);
        Check.log("internal topics: %s (cleanup.policy=compact) and %s (delete), %d partitions each", changelog, repartition, PARTITIONS);

        Map<TopicPartition, OffsetAndMetadata> committed = Check.await(
            admin.listConsumerGroupOffsets(appId, new ListConsumerGroupOffsetsOptions().requireStable(true)).partitionsToOffsetAndMetadata(),
            "listConsumerGroupOffsets " + appId);
        Map<TopicPartition, Long> inputOffsets = new TreeMap<>(Comparator.comparingInt(TopicPartition::partition));
        committed.forEach((tp, om) -> {
            if (om != null && tp.topic().equals(input)) {
                inputOffsets.put(tp, om.offset());
            }
        });
        Check.expectEqual(inputEnds, inputOffsets, "group %s's committed offsets on %s", appId, input);
        Check.log("group %s committed the input's end offsets %s", appId, inputOffsets);

        // The whole output again, from the beginning, after the application is gone.
        Map<String, Long> last = new HashMap<>();
        try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(consumerProps, new StringDeserializer(), new LongDeserializer())) {
            consumer.assign(outputPartitions);
            consumer.seekToBeginning(outputPartitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(outputPartitions, Check.CALL_TIMEOUT);
            long deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            while (outputPartitions.stream().anyMatch(tp -> consumer.position(tp, Check.CALL_TIMEOUT) < ends.get(tp))) {
                for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
                    last.put(r.key(), r.value());
                }
                Check.expect(System.nanoTime() < deadline, "re-reading the output to %s took over %d s", ends, Check.CALL_TIMEOUT.toSeconds());
            }
        }
        Check.expectEqual(expected, new TreeMap<>(last), "final counts in the output re-read after the application closed");
        Check.log("re-read after close: the output's last count of every word is its expected count");
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
