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
import java.util.Collection;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
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
 * {@code StreamsEosCheck <bootstrap> <clean|crash|failover> [suffix]}: Kafka Streams (kafka-streams 4.1)
 * counts words with {@code processing.guarantee=exactly_once_v2}.
 *
 * <p>1,000 lines of 1 to 8 words each (from a 40-word vocabulary, seeded) are produced to a
 * 3-partition input before the application starts; the check counts the words itself. The topology
 * splits lines into words, re-keys by word (a repartition topic), counts in a RocksDB store (a
 * compacted changelog topic) and writes each count to a 3-partition output. Streams creates its
 * internal topics through CreateTopics with their configs, joins a classic group, and under
 * exactly_once_v2 writes output, changelog and repartition records and its input offsets in one
 * transaction per commit (every 100 ms; polls of at most 50 records make many of them).
 *
 * <p>The store has no record cache, so every update reaches the output: a read_committed consumer
 * follows it, and each word's counts must read 1, 2, 3, ... up to its final count, with no repeat
 * and no gap, which a duplicate, a lost update or a visible aborted transaction would break. The
 * watchdog fails the check if the final counts do not all arrive; so does the application's
 * failing.
 *
 * <dl>
 * <dt>clean</dt>
 * <dd>One instance in this JVM runs to the final counts and closes.</dd>
 * <dt>crash</dt>
 * <dd>Instance a, a child JVM slowed to 4 ms a word where it counts and committing every 2 s, is
 *     killed with SIGKILL once a fifth of the updates are committed and while the coordinator lists
 *     its transaction Ongoing; the output it committed must then be short of the final counts.
 *     Instance b starts on the same state directory (so the same process id and transactional id:
 *     its initTransactions fences a and aborts the open transaction), restores the counts from the
 *     changelog, finishes, and exits cleanly on SIGTERM.</dd>
 * <dt>failover</dt>
 * <dd>Instances a and b (child JVMs, each its own state directory and so its own transactional
 *     id) share the tasks; a is killed with SIGKILL while its transaction is Ongoing. The
 *     coordinator aborts that transaction by its timeout (Streams' 10 s), b takes a's tasks when
 *     a's session times out, restores them from the changelog and finishes.</dd>
 * </dl>
 *
 * <p>After the application closes: the changelog topic is compacted, the repartition topic
 * exists, the group's committed input offsets (require_stable) are the input's end offsets, and a
 * full read_committed read of the output shows every count once, ending at the expected counts.
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
    private final String appId;
    private final String input;
    private final String output;

    private StreamsEosCheck(String bootstrap, String suffix) {
        this.bootstrap = bootstrap;
        this.suffix = suffix;
        this.admin = Check.admin(bootstrap, "java-streams-admin");
        this.appId = "java-streams-eos" + suffix;
        this.input = "java-streams-in" + suffix;
        this.output = "java-streams-out" + suffix;
    }

    public static void main(String[] args) {
        if (args[0].equals("app")) {
            runApp(args);
            return;
        }
        String mode = args.length > 1 ? args[1] : "clean";
        String suffix = "-" + mode + (args.length > 2 ? "-" + args[2] : "");
        StreamsEosCheck check = new StreamsEosCheck(args[0], suffix);
        switch (mode) {
            case "clean" -> Check.run("streams word count (exactly_once_v2)", 200, check::clean);
            case "crash" -> Check.run("streams word count (exactly_once_v2), killed and restarted", 220, check::crash);
            case "failover" -> Check.run("streams word count (exactly_once_v2), one of two instances killed", 220, check::failover);
            default -> throw new IllegalArgumentException("mode must be clean, crash or failover, not " + mode);
        }
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

    /** Streams' commit interval: many small transactions. */
    private static final int COMMIT_MS = 100;
    /** The commit interval of the instance the crash and failover checks kill while a transaction is Ongoing. */
    private static final int KILLED_COMMIT_MS = 2_000;

    /**
     * The word count, slowed so that a kill can land mid-run: {@code lineMs} is a pause per input
     * line (where lines are split), {@code wordMs} a pause per word (where words are counted and the
     * output written); {@code commitMs} is the commit interval (how long each transaction stays
     * Ongoing).
     *
     * <p>A pause per line does not spread the output over the run: on both brokers no count
     * reached the output before the 1,000th line was split (the stream thread gets the input,
     * fetched first, ahead of the repartitioned words), and then all 4,640 came within a commit or
     * two. A pause per word spreads the output over the commits.
     */
    private static KafkaStreams streams(
        String bootstrap, String appId, String input, String output, Path stateDir, int lineMs, int wordMs, int commitMs
    ) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .peek((key, line) -> pause(lineMs))
            .flatMapValues(line -> Arrays.asList(line.split(" ")))
            .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("counts"))
            .toStream()
            .peek((word, count) -> pause(wordMs))
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        // No record cache: every count update reaches the output, so each word's counts must read
        // 1, 2, 3, ... exactly. Small polls spread the input over many transactions.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.consumerPrefix("max.poll.records"), 50);
        props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
        props.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 10_000);
        props.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1_000);
        return new KafkaStreams(builder.build(), props);
    }

    private static void pause(int ms) {
        if (ms <= 0) {
            return;
        }
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A running word count, in this JVM or in a child JVM. */
    private interface App {
        /** Throws if the application has failed or stopped. */
        void checkRunning();

        /** A clean stop: Streams closes, committing its last transaction. */
        void close() throws Exception;
    }

    /** The application in this JVM. */
    private final class InProcessApp implements App {
        final KafkaStreams streams;
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<String> transitions = new ArrayList<>();
        final Path stateDir;

        InProcessApp(Path stateDir) {
            this.stateDir = stateDir;
            streams = streams(bootstrap, appId, input, output, stateDir, 0, 0, COMMIT_MS);
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
        }

        String transitions() {
            synchronized (transitions) {
                return transitions.toString();
            }
        }

        @Override
        public void checkRunning() {
            Throwable t = failure.get();
            if (t != null) {
                throw new AssertionError("the Streams application failed (states " + transitions() + ")", t);
            }
            KafkaStreams.State state = streams.state();
            Check.expect(state != KafkaStreams.State.ERROR && state != KafkaStreams.State.NOT_RUNNING
                    && state != KafkaStreams.State.PENDING_ERROR,
                "the Streams application is %s (states %s)", state, transitions());
        }

        @Override
        public void close() throws Exception {
            Check.expect(streams.close(Duration.ofSeconds(30)), "KafkaStreams.close did not finish within 30 s");
            Check.expectEqual(KafkaStreams.State.NOT_RUNNING, streams.state(), "state after close (states %s)", transitions());
            streams.cleanUp();
        }

        @Override
        public String toString() {
            return "states " + transitions();
        }
    }

    /** The line a child prints once its shutdown hook is in place: SIGTERM means a clean close from then on. */
    private static final String HOOK_INSTALLED = "shutdown hook installed";

    /** The application in a child JVM ({@code StreamsEosCheck app ...}), which the check can kill. */
    private final class ChildApp implements App {
        final String name;
        final Process process;
        final Path log;

        ChildApp(String name, Path stateDir, int lineMs, int wordMs, int commitMs) throws IOException {
            this.name = name;
            this.log = stateDir.resolveSibling(stateDir.getFileName() + "-" + name + ".log");
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            process = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                    StreamsEosCheck.class.getName(), "app", bootstrap, appId, input, output, stateDir.toString(), Integer.toString(lineMs),
                    Integer.toString(wordMs), Integer.toString(commitMs))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        }

        String tail() {
            try {
                List<String> lines = Files.readAllLines(log);
                return String.join("\n    ", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
            } catch (IOException e) {
                return "(no log: " + e + ")";
            }
        }

        @Override
        public void checkRunning() {
            if (!process.isAlive()) {
                throw new AssertionError(String.format("Streams instance %s exited with %d; its last lines:%n    %s",
                    name, process.exitValue(), tail()));
            }
        }

        /** The transactional id of its stream thread, once it has been RUNNING (else null). */
        String transactionalId() {
            try {
                for (String line : Files.readAllLines(log)) {
                    if (line.startsWith("thread ") && line.contains("-StreamThread-")) {
                        String thread = line.substring("thread ".length());
                        return thread.replace("-StreamThread-", "-");
                    }
                }
            } catch (IOException e) {
                return null;
            }
            return null;
        }

        /** SIGKILL: no close, no commit; its open transaction stays open. */
        void kill() throws Exception {
            process.destroyForcibly();
            Check.expect(process.waitFor(30, TimeUnit.SECONDS), "Streams instance %s did not die of SIGKILL within 30 s", name);
        }

        /** Whether its log has a line starting with {@code prefix}. */
        boolean logged(String prefix) {
            try {
                return Files.readAllLines(log).stream().anyMatch(line -> line.startsWith(prefix));
            } catch (IOException e) {
                return false;
            }
        }

        @Override
        public void close() throws Exception {
            // SIGTERM: the child's shutdown hook closes Streams. A JVM that has not installed it yet
            // dies of the signal (status 143) before it has printed a line; so wait for the hook.
            long deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            while (!logged(HOOK_INSTALLED)) {
                checkRunning();
                Check.expect(System.nanoTime() < deadline, "Streams instance %s printed no '%s' within %d s; its last lines:%n    %s",
                    name, HOOK_INSTALLED, Check.CALL_TIMEOUT.toSeconds(), tail());
                Thread.sleep(50);
            }
            process.destroy();
            Check.expect(process.waitFor(60, TimeUnit.SECONDS), "Streams instance %s did not stop within 60 s of SIGTERM", name);
            Check.expectEqual(0, process.exitValue(), "exit status of Streams instance %s (its last lines:%n    %s)", name, tail());
        }

        @Override
        public String toString() {
            return "instance " + name;
        }
    }

    /**
     * {@code StreamsEosCheck app <bootstrap> <appId> <input> <output> <stateDir> <lineMs> <wordMs> <commitMs>}: runs
     * the word count until SIGTERM, after which it exits 0 if Streams closed cleanly. It prints
     * {@value #HOOK_INSTALLED} once SIGTERM means that.
     */
    private static void runApp(String[] args) {
        System.out.println("instance starting, pid " + ProcessHandle.current().pid());
        System.out.flush();
        // A failed check ends its JVM with halt, which takes no child along: follow it out rather
        // than run on beside the checks after it.
        ProcessHandle.current().parent().ifPresent(parent -> parent.onExit().thenRun(() -> Runtime.getRuntime().halt(3)));
        KafkaStreams streams = streams(args[1], args[2], args[3], args[4], Path.of(args[5]), Integer.parseInt(args[6]),
            Integer.parseInt(args[7]), Integer.parseInt(args[8]));
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("FAILED: uncaught exception in Streams: " + e);
            e.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            System.out.println("state " + before + " -> " + now);
            if (now == KafkaStreams.State.RUNNING) {
                // The thread's client id is <application.id>-<process id>-StreamThread-<n>; its
                // producer's transactional id, <application.id>-<process id>-<n>.
                streams.metadataForLocalThreads().forEach(t -> System.out.println("thread " + t.threadName()));
            }
            System.out.flush();
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            boolean closed = streams.close(Duration.ofSeconds(30));
            System.out.println("closed: " + closed + ", state " + streams.state());
            System.out.flush();
            // Exit 0 for a clean close (a JVM ended by SIGTERM otherwise exits 143), 1 for anything else.
            Runtime.getRuntime().halt(closed && streams.state() == KafkaStreams.State.NOT_RUNNING ? 0 : 1);
        }));
        System.out.println(HOOK_INSTALLED);
        System.out.flush();
        streams.start();
        while (true) {
            pause(1000);
        }
    }

    /** Writes the input lines (keyed by line number) and returns the input's end offsets. */
    private Map<TopicPartition, Long> produceInput(List<String> lines) throws Exception {
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
        return inputEnds;
    }

    /**
     * A read_committed reader of the output: every record must be its word's next count (1, 2,
     * 3, ...), never past the final count.
     */
    private final class OutputFollower implements AutoCloseable {
        final Map<String, Long> expected;
        final Map<String, Long> latest = new TreeMap<>();
        final KafkaConsumer<String, Long> consumer;
        int updates;

        OutputFollower(Map<String, Long> expected) {
            this.expected = expected;
            Properties props = Check.clientProps(bootstrap, "java-streams-output");
            props.put("isolation.level", "read_committed");
            props.put("enable.auto.commit", "false");
            consumer = new KafkaConsumer<>(props, new StringDeserializer(), new LongDeserializer());
            List<TopicPartition> partitions = outputPartitions();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
        }

        void poll() {
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
        }

        /** Follows the output until {@code enough} holds; the app must keep running meanwhile. */
        void followUntil(java.util.function.BooleanSupplier enough, App app, String what) {
            long deadline = System.nanoTime() + RUN_TIMEOUT.toNanos();
            while (!enough.getAsBoolean()) {
                poll();
                app.checkRunning();
                if (System.nanoTime() > deadline) {
                    Map<String, String> wrong = new TreeMap<>();
                    expected.forEach((w, c) -> {
                        if (!c.equals(latest.get(w))) {
                            wrong.put(w, latest.get(w) + "/" + c);
                        }
                    });
                    throw new AssertionError(String.format(
                        "%s: not reached after %d s (%s); %d updates read, %d of %d words at their final counts; got/expected: %s",
                        what, RUN_TIMEOUT.toSeconds(), app, updates, expected.size() - wrong.size(), expected.size(), wrong));
                }
            }
        }

        boolean done() {
            return latest.equals(expected);
        }

        /** Reads all that is committed now: each output partition up to its last stable offset. */
        void catchUp() {
            Map<TopicPartition, Long> ends = consumer.endOffsets(outputPartitions(), Check.CALL_TIMEOUT);
            long deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            while (outputPartitions().stream().anyMatch(tp -> consumer.position(tp, Check.CALL_TIMEOUT) < ends.get(tp))) {
                poll();
                Check.expect(System.nanoTime() < deadline, "reading the output up to %s took over %d s", ends, Check.CALL_TIMEOUT.toSeconds());
            }
        }

        @Override
        public void close() {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private List<TopicPartition> outputPartitions() {
        List<TopicPartition> partitions = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            partitions.add(new TopicPartition(output, p));
        }
        return partitions;
    }

    /** Creates the topics, writes the input and returns the expected counts; {@code inputEnds} gets the input's end offsets. */
    private Map<String, Long> prepare(Map<TopicPartition, Long> inputEnds) throws Exception {
        Check.createTopic(admin, input, PARTITIONS, Map.of());
        Check.createTopic(admin, output, PARTITIONS, Map.of());
        List<String> lines = lines();
        Map<String, Long> expected = count(lines);
        inputEnds.putAll(produceInput(lines));
        long words = expected.values().stream().mapToLong(Long::longValue).sum();
        Check.log("input: %d lines, %d words (%d distinct), by partition up to %s", LINES, words, expected.size(), inputEnds);
        return expected;
    }

    private void clean() throws Exception {
        Map<TopicPartition, Long> inputEnds = new TreeMap<>(Comparator.comparingInt(TopicPartition::partition));
        Map<String, Long> expected = prepare(inputEnds);
        Path stateDir = Files.createTempDirectory("strata-compat-streams");
        InProcessApp app = new InProcessApp(stateDir);
        try (OutputFollower follower = new OutputFollower(expected)) {
            follower.followUntil(follower::done, app, "the expected final counts in the output");
            Check.log("read_committed output: every word's counts 1, 2, 3, ... up to the expected count, %d updates (%s)",
                follower.updates, app);
        }
        app.close();
        deleteTree(stateDir);
        afterClose(expected, inputEnds);
    }

    /**
     * Instance A is killed with SIGKILL once a fifth of the updates are committed, with a
     * transaction open; what A committed must then be short of the final counts, so that B has
     * the rest to do. Instance B starts on the same state directory (so the same process id and
     * transactional id, whose initTransactions fences A and aborts its transaction), restores the
     * counts from the changelog and finishes. Each word's counts must still read 1, 2, 3, ... in
     * the read_committed output: nothing of A's open transaction, nothing twice.
     */
    private void crash() throws Exception {
        Map<TopicPartition, Long> inputEnds = new TreeMap<>(Comparator.comparingInt(TopicPartition::partition));
        Map<String, Long> expected = prepare(inputEnds);
        long total = expected.values().stream().mapToLong(Long::longValue).sum();
        Path stateDir = Files.createTempDirectory("strata-compat-streams");
        try (OutputFollower follower = new OutputFollower(expected)) {
            // 4 ms per word where the words are counted: the 4,640 updates take 18 s or more and
            // reach the output all along, so the kill lands mid-run, and a commits every 2 s, so a
            // transaction with output in it is Ongoing most of the time. (Slowed per line instead,
            // a wrote no count before it had split every line and then all of them at once: on a
            // loaded CI machine it committed its last count before the kill, once leaving no
            // Ongoing transaction to kill it in, once leaving b nothing to do, closed before it had
            // installed its shutdown hook.)
            ChildApp a = new ChildApp("a", stateDir, 0, 4, KILLED_COMMIT_MS);
            follower.followUntil(() -> follower.updates >= total / 5, a, "a fifth of the updates from instance a");
            // Kill it while the coordinator has its transaction Ongoing (it is between transactions
            // for a moment after each commit).
            long deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            List<String> open = ongoing();
            while (open.isEmpty()) {
                a.checkRunning();
                Check.expect(System.nanoTime() < deadline, "no Ongoing transaction of %s within %d s", appId, Check.CALL_TIMEOUT.toSeconds());
                open = ongoing();
            }
            a.kill();
            // All that a committed is readable now (its open transaction holds the last stable
            // offset until b fences it): it must fall short of the final counts, or the kill did
            // not land mid-run and b would have nothing to finish.
            follower.catchUp();
            int ofA = follower.updates;
            Check.expect(!follower.done(), "instance a had committed all %d updates before it was killed (transaction %s Ongoing): "
                + "the kill did not land mid-run", total, open);
            Check.log("instance a killed (SIGKILL) with transaction %s Ongoing, after %d of %d updates were committed",
                open, ofA, total);

            ChildApp b = new ChildApp("b", stateDir, 0, 0, COMMIT_MS);
            follower.followUntil(follower::done, b, "the expected final counts in the output after instance b took over");
            Check.log("read_committed output: every word's counts 1, 2, 3, ... up to the expected count across the kill, "
                + "%d updates (%d of them from instance b)", follower.updates, follower.updates - ofA);
            b.close();
            Collection<TransactionListing> all = Check.await(admin.listTransactions().all(), "listTransactions");
            Check.log("instance b closed on SIGTERM; the application's transactional ids: %s", all.stream()
                .filter(l -> l.transactionalId().startsWith(appId)).map(l -> l.transactionalId() + " " + l.state()).toList());
            Files.deleteIfExists(a.log);
            Files.deleteIfExists(b.log);
        }
        deleteTree(stateDir);
        afterClose(expected, inputEnds);
    }

    /**
     * Instances a and b (child JVMs with their own state directories, so their own transactional
     * ids) share the tasks; a is killed with SIGKILL while its transaction is Ongoing. b takes over
     * a's tasks once a's session times out (10 s), after the coordinator has aborted a's transaction
     * by its timeout (Streams' transaction.timeout.ms, 10 s): the read_committed output and b's
     * restore wait behind it. Each word's counts must still read 1, 2, 3, ...
     */
    private void failover() throws Exception {
        Map<TopicPartition, Long> inputEnds = new TreeMap<>(Comparator.comparingInt(TopicPartition::partition));
        Map<String, Long> expected = prepare(inputEnds);
        long total = expected.values().stream().mapToLong(Long::longValue).sum();
        Path stateA = Files.createTempDirectory("strata-compat-streams");
        Path stateB = Files.createTempDirectory("strata-compat-streams");
        try (OutputFollower follower = new OutputFollower(expected)) {
            // 8 ms per line: the 1,000 lines take 8 s or more, so both share the work and the kill lands mid-run.
            // a commits seldom, so the transaction seen Ongoing is still open when the SIGKILL lands
            // (at 100 ms, a's commit sometimes came first, and its last transaction was rightly
            // CompleteCommit; seen once in the test command's CI run).
            ChildApp a = new ChildApp("a", stateA, 8, 0, KILLED_COMMIT_MS);
            ChildApp b = new ChildApp("b", stateB, 8, 0, COMMIT_MS);
            long deadline = System.nanoTime() + RUN_TIMEOUT.toNanos();
            while (a.transactionalId() == null || b.transactionalId() == null || groupMembers() < 2) {
                a.checkRunning();
                b.checkRunning();
                follower.poll();
                Check.expect(System.nanoTime() < deadline, "instances a and b were not both RUNNING in a group of 2 within %d s",
                    RUN_TIMEOUT.toSeconds());
            }
            String idOfA = a.transactionalId();
            Check.log("instances a (%s) and b (%s) running in one group", idOfA, b.transactionalId());
            follower.followUntil(() -> follower.updates >= total / 5, a, "a fifth of the updates");
            deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            while (!ongoing().contains(idOfA)) {
                a.checkRunning();
                Check.expect(System.nanoTime() < deadline, "instance a's transaction %s was not Ongoing within %d s (ongoing: %s)",
                    idOfA, Check.CALL_TIMEOUT.toSeconds(), ongoing());
            }
            a.kill();
            long killed = System.nanoTime();
            Check.log("instance a killed (SIGKILL) with its transaction Ongoing, after %d of %d updates were committed", follower.updates, total);
            follower.followUntil(follower::done, b, "the expected final counts in the output after instance b took over");
            Check.log("read_committed output: every word's counts 1, 2, 3, ... up to the expected count across the failover, "
                + "%d updates, %.1f s after the kill", follower.updates, (System.nanoTime() - killed) / 1e9);
            TransactionDescription ofA = Check.await(admin.describeTransactions(List.of(idOfA)).description(idOfA), "describeTransactions " + idOfA);
            Check.expectEqual(TransactionState.COMPLETE_ABORT, ofA.state(), "state of instance a's transaction after the failover");
            b.close();
            Check.log("instance a's transaction was aborted by the coordinator (CompleteAbort); instance b closed on SIGTERM");
            Files.deleteIfExists(a.log);
            Files.deleteIfExists(b.log);
        }
        deleteTree(stateA);
        deleteTree(stateB);
        afterClose(expected, inputEnds);
    }

    private int groupMembers() throws Exception {
        var described = Check.await(admin.describeConsumerGroups(List.of(appId)).all(), "describeConsumerGroups " + appId);
        var group = described.get(appId);
        return group == null ? 0 : (int) group.members().stream().filter(m -> !m.assignment().topicPartitions().isEmpty()).count();
    }

    /** The application's transactional ids that the coordinator has Ongoing. */
    private List<String> ongoing() throws Exception {
        Collection<TransactionListing> listed = Check.await(
            admin.listTransactions(new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING))).all(),
            "listTransactions state=Ongoing");
        return listed.stream().map(TransactionListing::transactionalId).filter(id -> id.startsWith(appId)).toList();
    }

    /** What must hold once the application has closed: internal topics, group offsets, the output read again. */
    private void afterClose(Map<String, Long> expected, Map<TopicPartition, Long> inputEnds) throws Exception {
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
        try (OutputFollower again = new OutputFollower(expected)) {
            again.catchUp();
            Check.expectEqual(expected, again.latest, "final counts in the output re-read after the application closed");
        }
        Check.log("re-read after close: every word's counts 1, 2, 3, ... once, ending at its expected count");
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
