package strata.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.InvalidTxnStateException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * {@code TxnCheck <bootstrap> <mode> [suffix]}: Kafka transactions through the Java client's
 * transactional producer (kafka-clients 4.1 speaks transaction version 2 with a broker that
 * finalizes it, as Kafka 4.1.2 and Strata do). Each mode runs in its own JVM on its own topics
 * (their names, transactional ids and groups end with {@code -suffix} if one is given, to run
 * again on the same broker). What a client raises is pinned to what it raises against reference
 * Kafka 4.1.2.
 *
 * <dl>
 * <dt>commit-abort</dt>
 * <dd>One producer ({@code transactional.id}) on a 3-partition topic: a committed transaction of 100
 *     records per partition, an aborted one of 50 (flushed, so that its records are in the log
 *     before the abort), and a committed one of 100. Every record lands at the offset Kafka gives it
 *     (each end-transaction marker takes one offset: 0..99, marker 100, 101..150, marker 151,
 *     152..251, marker 252). While the third is open (flushed, not committed) the last stable
 *     offset holds read_committed at 152 while read_uncommitted reaches 252. After the commit, a
 *     read_committed consumer reads exactly the committed records, in order, at their offsets, and a
 *     read_uncommitted consumer every data record, aborted ones included, in log order; neither sees
 *     a marker. The Admin client describes the open transaction (Ongoing, on the 3 partitions) and
 *     lists it among the Ongoing ones, and describeProducers shows the producer on partition 0 with
 *     its epoch, last sequence and the open transaction's first offset; after the commit it
 *     describes the transaction CompleteCommit with no partitions and the same producer id, and
 *     the producer with no open transaction. Consumers that start in the middle of the aborted
 *     transaction: read_committed reads only transaction 3, read_uncommitted the rest of 2 and 3.</dd>
 * <dt>segments</dt>
 * <dd>commit-abort with 1,200, 1,500 and 600 records of 1 KB per partition in small batches, on a
 *     topic with 1 MB segments (so every transaction spans segment rolls) and read by consumers
 *     that fetch at most 16 KB at a time (so fetches begin and end inside transactions).</dd>
 * <dt>fencing</dt>
 * <dd>Zombie fencing, with what Kafka 4.1.2 raises in each case. Producer 1 begins a transaction and
 *     writes a record (flushed); producer 2, same {@code transactional.id}, calls
 *     {@code initTransactions}, which bumps the epoch and aborts producer 1's transaction. Producer
 *     1's next send fails with {@code InvalidProducerEpochException} (Produce answers
 *     INVALID_PRODUCER_EPOCH, abortable for the client), so does its {@code commitTransaction},
 *     and its {@code abortTransaction} then fails with {@code ProducerFencedException} (EndTxn's
 *     PRODUCER_FENCED). Producer 2 writes to two partitions (flushed), producer 3 calls
 *     {@code initTransactions}, and producer 2's {@code commitTransaction} fails with
 *     {@code ProducerFencedException}. Producer 3 commits. Every record and marker is at the offset
 *     Kafka gives it; read_committed shows only producer 3's records, read_uncommitted the fenced
 *     producers' flushed records too, and nothing sent after a fence.</dd>
 * <dt>offsets</dt>
 * <dd>A consume-transform-produce loop: a consumer in group {@code java-txn-ctp} (read_committed,
 *     no auto commit) reads 200 records per partition of a 3-partition input in batches of at most
 *     50, and a transactional producer writes each batch, transformed, to the same partition of the
 *     output and commits the batch's next offsets with
 *     {@code sendOffsetsToTransaction(offsets, consumer.groupMetadata())}. The first attempt and the
 *     fourth are aborted: after the first the group has no committed offset at all, after the
 *     fourth it still has the third's; the consumer rewinds to the committed offsets (or the
 *     beginning) and goes on. At the end the group's offsets (read with require_stable) are the
 *     input's end offsets, the committed output holds each input record's transform exactly once,
 *     in order, and its length per partition equals the group offset.</dd>
 * <dt>generation</dt>
 * <dd>KIP-447: a consume-transform-produce transaction whose consumer's group rebalanced (a second
 *     member joined) after it took its group metadata: {@code sendOffsetsToTransaction} with the
 *     old metadata fails with {@code CommitFailedException} (as Kafka 4.1.2), the abort leaves the
 *     group without offsets, and with the current metadata the consumer's share commits.</dd>
 * <dt>interleaved</dt>
 * <dd>Two transactional producers and a plain idempotent one take turns on one partition (each
 *     record flushed, so the log interleaves them); one transaction commits and, once its marker is
 *     in the log, the other aborts; then again with the outcomes swapped. The last stable offset
 *     stays at the open transaction's first record even after the other commits; read_committed
 *     reads exactly the committed and plain records, read_uncommitted all of them.</dd>
 * <dt>timeout</dt>
 * <dd>A producer with {@code transaction.timeout.ms=2000} writes to two partitions and goes quiet;
 *     the coordinator aborts the transaction by itself (markers, the last stable offset moves,
 *     described CompleteAbort), the producer's late commit fails with
 *     {@code InvalidTxnStateException} (as Kafka 4.1.2), and a new producer with the same id
 *     commits.</dd>
 * </dl>
 */
public final class TxnCheck {
    private static final int PARTITIONS = 3;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);

    private final String bootstrap;
    /** For topics, end offsets and group offsets; the JVM ends with the check, so it is never closed. */
    private final Admin admin;

    /** Padding added to every value (segments mode: 1 KB values). */
    private int padBytes = 0;
    /** The producer's batch.size, and the consumers' max.partition.fetch.bytes and fetch.max.bytes (0: the client's default). */
    private int batchBytes = 0;
    private int fetchBytes = 0;
    /** Appended to every topic, transactional id and group, so that a check can run again on one broker. */
    private final String suffix;

    private TxnCheck(String bootstrap, String suffix) {
        this.bootstrap = bootstrap;
        this.suffix = suffix;
        this.admin = Check.admin(bootstrap, "java-txn-admin");
    }

    public static void main(String[] args) {
        String mode = args[1];
        TxnCheck check = new TxnCheck(args[0], args.length > 2 ? "-" + args[2] : "");
        switch (mode) {
            case "commit-abort" -> Check.run("transactions commit/abort", 150, check::commitAbort);
            case "fencing" -> Check.run("transactions zombie fencing", 150, check::fencing);
            case "offsets" -> Check.run("transactions consume-transform-produce", 170, check::offsets);
            case "interleaved" -> Check.run("transactions interleaved", 150, check::interleaved);
            case "timeout" -> Check.run("transactions timeout", 150, check::timeout);
            case "segments" -> Check.run("transactions across segments", 170, check::segments);
            case "generation" -> Check.run("transactions fenced by the group generation", 170, check::generation);
            default -> throw new IllegalArgumentException("mode must be commit-abort, fencing, offsets, generation, interleaved, timeout or segments, not " + mode);
        }
    }

    private KafkaProducer<String, String> producer(String clientId, String transactionalId) {
        return producer(clientId, transactionalId, 60_000);
    }

    private KafkaProducer<String, String> producer(String clientId, String transactionalId, int transactionTimeoutMs) {
        return producer(clientId, transactionalId, transactionTimeoutMs, "none");
    }

    private KafkaProducer<String, String> producer(String clientId, String transactionalId, int transactionTimeoutMs, String compression) {
        Properties props = Check.clientProps(bootstrap, clientId);
        props.put("compression.type", compression);
        props.put("acks", "all");
        props.put("enable.idempotence", "true");
        if (transactionalId != null) {
            props.put("transactional.id", transactionalId);
            props.put("transaction.timeout.ms", Integer.toString(transactionTimeoutMs));
        }
        props.put("max.block.ms", "30000");
        props.put("delivery.timeout.ms", "60000");
        props.put("linger.ms", "5");
        if (batchBytes > 0) {
            props.put("batch.size", Integer.toString(batchBytes));
        }
        return new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
    }

    private KafkaConsumer<String, String> consumer(String clientId, String isolation, String group) {
        Properties props = Check.clientProps(bootstrap, clientId);
        props.put("isolation.level", isolation);
        if (fetchBytes > 0) {
            props.put("max.partition.fetch.bytes", Integer.toString(fetchBytes));
            props.put("fetch.max.bytes", Integer.toString(fetchBytes));
        }
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        if (group != null) {
            props.put("group.id", group);
            props.put("group.protocol", "classic");
            props.put("session.timeout.ms", "10000");
            props.put("heartbeat.interval.ms", "1000");
            props.put("max.poll.records", "50");
        }
        return new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer());
    }

    private static List<TopicPartition> partitions(String topic) {
        List<TopicPartition> all = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            all.add(new TopicPartition(topic, p));
        }
        return all;
    }

    /** Sends {@code perPartition} records to each partition, values {@code <tag>-p<partition>-<i>}, and returns their futures by partition. */
    private Map<Integer, List<Future<RecordMetadata>>> sendAll(KafkaProducer<String, String> producer, String topic,
            String tag, int perPartition) {
        Map<Integer, List<Future<RecordMetadata>>> futures = new TreeMap<>();
        for (int i = 0; i < perPartition; i++) {
            for (int p = 0; p < PARTITIONS; p++) {
                futures.computeIfAbsent(p, k -> new ArrayList<>())
                    .add(producer.send(new ProducerRecord<>(topic, p, "k" + p, value(tag, p, i))));
            }
        }
        return futures;
    }

    private String value(String tag, int partition, int i) {
        String value = tag + "-p" + partition + "-" + i;
        return padBytes == 0 ? value : value + "-" + "x".repeat(padBytes);
    }

    /** The futures of one partition must have completed at offsets {@code first}, {@code first + 1}, ... */
    private static void expectOffsets(Map<Integer, List<Future<RecordMetadata>>> futures, long first, String what) throws Exception {
        for (var e : futures.entrySet()) {
            List<Future<RecordMetadata>> list = e.getValue();
            for (int i = 0; i < list.size(); i++) {
                RecordMetadata md = Check.await(list.get(i), what + " record " + i + " to partition " + e.getKey());
                Check.expectEqual(first + i, md.offset(), "offset of %s record %d on partition %d", what, i, e.getKey());
            }
        }
    }

    /** A copy ordered by topic and partition, for messages that read well. */
    private static <V> TreeMap<TopicPartition, V> sorted(Map<TopicPartition, V> map) {
        TreeMap<TopicPartition, V> copy = new TreeMap<>(
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
        copy.putAll(map);
        return copy;
    }

    /** The end offsets under this isolation level (read_committed: the last stable offset), as ListOffsets answers them. */
    private Map<TopicPartition, Long> endOffsets(String topic, String isolation) throws Exception {
        IsolationLevel level = isolation.equals("read_committed") ? IsolationLevel.READ_COMMITTED : IsolationLevel.READ_UNCOMMITTED;
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (TopicPartition tp : partitions(topic)) {
            latest.put(tp, OffsetSpec.latest());
        }
        Map<TopicPartition, Long> ends = sorted(Map.of());
        Check.await(admin.listOffsets(latest, new ListOffsetsOptions(level)).all(), "listOffsets " + topic + " " + isolation)
            .forEach((tp, info) -> ends.put(tp, info.offset()));
        return ends;
    }

    /** Waits until every partition's end offset under {@code isolation} is {@code expected}. */
    private void awaitEndOffsets(String topic, String isolation, long expected) throws Exception {
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (true) {
            Map<TopicPartition, Long> ends = endOffsets(topic, isolation);
            if (ends.values().stream().allMatch(v -> v == expected)) {
                return;
            }
            Check.expect(System.nanoTime() < deadline, "%s end offsets of %s are %s, not %d everywhere, after %d s",
                isolation, topic, ends, expected, STEP_TIMEOUT.toSeconds());
            Thread.sleep(100);
        }
    }

    /** Reads every partition of {@code topic} from the beginning up to {@code end} under {@code isolation}. */
    private Map<Integer, List<ConsumerRecord<String, String>>> readAll(String topic, String isolation, long end) throws Exception {
        Map<TopicPartition, Long> ends = new HashMap<>();
        for (TopicPartition tp : partitions(topic)) {
            ends.put(tp, end);
        }
        return readAll(topic, isolation, ends);
    }

    private Map<Integer, List<ConsumerRecord<String, String>>> readAll(String topic, String isolation,
            Map<TopicPartition, Long> ends) throws Exception {
        return readFrom(topic, isolation, -1, ends);
    }

    /** Reads every partition of {@code topic} from {@code start} (-1: the beginning) up to {@code ends} under {@code isolation}. */
    private Map<Integer, List<ConsumerRecord<String, String>>> readFrom(String topic, String isolation, long start,
            Map<TopicPartition, Long> ends) throws Exception {
        Map<Integer, List<ConsumerRecord<String, String>>> read = new TreeMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            read.put(p, new ArrayList<>());
        }
        try (KafkaConsumer<String, String> c = consumer("java-txn-reader-" + isolation, isolation, null)) {
            c.assign(partitions(topic));
            if (start < 0) {
                c.seekToBeginning(partitions(topic));
            } else {
                partitions(topic).forEach(tp -> c.seek(tp, start));
            }
            long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
            while (true) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    read.get(r.partition()).add(r);
                }
                boolean done = true;
                for (TopicPartition tp : partitions(topic)) {
                    done &= c.position(tp, Check.CALL_TIMEOUT) >= ends.get(tp);
                }
                if (done) {
                    break;
                }
                Check.expect(System.nanoTime() < deadline, "a %s consumer of %s did not reach %s within %d s (read %s records by partition)",
                    isolation, topic, ends, STEP_TIMEOUT.toSeconds(), counts(read));
            }
            // Nothing may follow: one more poll past the end must return nothing.
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                throw new AssertionError(isolation + " consumer read past the end offset: " + r);
            }
        }
        return read;
    }

    private static Map<Integer, Integer> counts(Map<Integer, List<ConsumerRecord<String, String>>> read) {
        Map<Integer, Integer> counts = new TreeMap<>();
        read.forEach((p, list) -> counts.put(p, list.size()));
        return counts;
    }

    private static String shorten(String s) {
        return s.length() <= 60 ? s : s.substring(0, 60) + "...(" + s.length() + " chars)";
    }

    /** One expected record: its offset and value. */
    private record Expected(long offset, String value) {}

    private static void expectRecords(Map<Integer, List<ConsumerRecord<String, String>>> read, int partition,
            List<Expected> expected, String what) {
        List<ConsumerRecord<String, String>> got = read.get(partition);
        List<String> gotShort = new ArrayList<>();
        for (ConsumerRecord<String, String> r : got) {
            gotShort.add(r.offset() + ":" + r.value());
        }
        List<String> expectedShort = new ArrayList<>();
        for (Expected e : expected) {
            expectedShort.add(e.offset() + ":" + e.value());
        }
        if (!gotShort.equals(expectedShort)) {
            int i = 0;
            while (i < Math.min(gotShort.size(), expectedShort.size()) && gotShort.get(i).equals(expectedShort.get(i))) {
                i++;
            }
            throw new AssertionError(String.format("%s on partition %d: %d records (offset:value), expected %d; first difference at #%d: got %s, expected %s",
                what, partition, gotShort.size(), expectedShort.size(), i,
                i < gotShort.size() ? shorten(gotShort.get(i)) : "nothing", i < expectedShort.size() ? shorten(expectedShort.get(i)) : "nothing"));
        }
    }

    private List<Expected> run(String tag, int partition, int count, long firstOffset) {
        List<Expected> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            list.add(new Expected(firstOffset + i, value(tag, partition, i)));
        }
        return list;
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /** The one producer that describeProducers shows on partition 0 of {@code topic}. */
    private ProducerState onlyProducer(String topic) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ProducerState> active = Check.await(admin.describeProducers(List.of(tp)).partitionResult(tp), "describeProducers " + tp)
            .activeProducers();
        Check.expectEqual(1, active.size(), "describeProducers: active producers on %s (%s)", tp, active);
        return active.get(0);
    }

    private TransactionDescription describeTransaction(String transactionalId) throws Exception {
        return Check.await(admin.describeTransactions(List.of(transactionalId)).description(transactionalId),
            "describeTransactions " + transactionalId);
    }

    private void commitAbort() throws Exception {
        commitAbort("java-txn" + suffix, Map.of(), 100, 50, 100);
    }

    /**
     * commit-abort with transactions of megabytes: 1 KB values, small producer batches, 1 MB
     * segments (Kafka's least {@code segment.bytes}), so that every transaction spans segment
     * rolls (the aborted one's entry in the transaction index of the segment it ends in), and
     * consumers fetching at most 16 KB a partition, so that a fetch begins and ends inside
     * transactions.
     */
    private void segments() throws Exception {
        padBytes = 1000;
        batchBytes = 4096;
        fetchBytes = 16 * 1024;
        commitAbort("java-txn-segments" + suffix, Map.of("segment.bytes", "1048576"), 1200, 1500, 600);
    }

    /**
     * Transaction 1 of {@code n1} records per partition committed, 2 of {@code n2} aborted after a
     * flush, 3 of {@code n3} committed; each marker takes one offset.
     */
    private void commitAbort(String topic, Map<String, String> topicConfigs, int n1, int n2, int n3) throws Exception {
        Check.createTopic(admin, topic, PARTITIONS, topicConfigs);
        String transactionalId = topic + "-producer";
        long t2First = n1 + 1;
        long t3First = t2First + n2 + 1;
        long t3Marker = t3First + n3;
        long end = t3Marker + 1;
        long producerId;
        try (KafkaProducer<String, String> producer = producer("java-txn-producer", transactionalId)) {
            producer.initTransactions();

            producer.beginTransaction();
            var t1 = sendAll(producer, topic, "t1", n1);
            producer.commitTransaction();
            expectOffsets(t1, 0, "committed transaction 1");
            Check.log("transaction 1: %d records per partition at offsets 0..%d, committed", n1, n1 - 1);

            producer.beginTransaction();
            var t2 = sendAll(producer, topic, "t2", n2);
            producer.flush();
            expectOffsets(t2, t2First, "aborted transaction 2");
            producer.abortTransaction();
            Check.log("transaction 2: %d records per partition at offsets %d..%d (after transaction 1's marker at %d), flushed, aborted",
                n2, t2First, t3First - 2, n1);

            producer.beginTransaction();
            var t3 = sendAll(producer, topic, "t3", n3);
            producer.flush();
            expectOffsets(t3, t3First, "committed transaction 3");
            // While transaction 3 is open, the last stable offset stays at its first record.
            Check.expectEqual(t3First, endOffsets(topic, "read_committed").get(new TopicPartition(topic, 0)),
                "read_committed end offset (last stable offset) of partition 0 while transaction 3 is open");
            awaitEndOffsets(topic, "read_committed", t3First);
            awaitEndOffsets(topic, "read_uncommitted", t3Marker);
            Check.log("transaction 3 open at %d..%d: read_committed end offsets %d, read_uncommitted %d",
                t3First, t3Marker - 1, t3First, t3Marker);
            TransactionDescription open = describeTransaction(transactionalId);
            Check.expectEqual(TransactionState.ONGOING, open.state(), "described state of the open transaction");
            Check.expectEqual(Set.copyOf(partitions(topic)), open.topicPartitions(), "described partitions of the open transaction");
            Check.expect(open.transactionStartTimeMs().isPresent(), "the open transaction is described without a start time");
            producerId = open.producerId();
            Collection<TransactionListing> ongoing = Check.await(
                admin.listTransactions(new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING))).all(),
                "listTransactions state=Ongoing");
            Check.expect(ongoing.stream().anyMatch(l -> l.transactionalId().equals(transactionalId)
                    && l.producerId() == open.producerId() && l.state() == TransactionState.ONGOING),
                "listTransactions state=Ongoing lacks %s (producer id %d): %s", transactionalId, open.producerId(), ongoing);
            Check.log("Admin: describeTransactions says Ongoing on the 3 partitions; listTransactions(Ongoing) lists it");
            ProducerState active = onlyProducer(topic);
            Check.expectEqual(open.producerId(), active.producerId(), "describeProducers: producer id on partition 0");
            Check.expectEqual(open.producerEpoch(), active.producerEpoch(), "describeProducers: producer epoch on partition 0");
            Check.expectEqual(OptionalLong.of(t3First), active.currentTransactionStartOffset(),
                "describeProducers: the open transaction's first offset on partition 0");
            // Transaction version 2 bumps the epoch at every commit and abort, and sequences start again at 0.
            Check.expectEqual(n3 - 1, active.lastSequence(), "describeProducers: last sequence on partition 0");
            Check.log("Admin: describeProducers on partition 0 shows the producer with its transaction open at %d", t3First);
            producer.commitTransaction();
        }
        // The markers are written after EndTxn answers, so the last stable offset may take a moment.
        awaitEndOffsets(topic, "read_committed", end);
        awaitEndOffsets(topic, "read_uncommitted", end);
        Check.log("transaction 3 committed: both end offsets %d (marker at %d)", end, t3Marker);
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        TransactionDescription done = describeTransaction(transactionalId);
        while (done.state() != TransactionState.COMPLETE_COMMIT) {
            // PrepareCommit until the markers are written.
            Check.expect(System.nanoTime() < deadline, "transaction described as %s, not CompleteCommit, %d s after its commit",
                done.state(), STEP_TIMEOUT.toSeconds());
            Thread.sleep(100);
            done = describeTransaction(transactionalId);
        }
        Check.expectEqual(producerId, done.producerId(), "described producer id after the commit");
        Check.expectEqual(Set.of(), done.topicPartitions(), "described partitions after the commit");
        Collection<TransactionListing> listed = Check.await(admin.listTransactions().all(), "listTransactions");
        Check.expect(listed.stream().anyMatch(l -> l.transactionalId().equals(transactionalId) && l.state() == TransactionState.COMPLETE_COMMIT),
            "listTransactions lacks %s in CompleteCommit: %s", transactionalId, listed);
        Check.log("Admin: describeTransactions says CompleteCommit with no partitions; listTransactions lists it");
        Check.expectEqual(OptionalLong.empty(), onlyProducer(topic).currentTransactionStartOffset(),
            "describeProducers: open transaction on partition 0 after the commit");

        var committed = readAll(topic, "read_committed", end);
        for (int p = 0; p < PARTITIONS; p++) {
            expectRecords(committed, p, concat(run("t1", p, n1, 0), run("t3", p, n3, t3First)), "read_committed");
        }
        Check.log("read_committed: exactly transactions 1 and 3 on every partition, in order, at their offsets");
        var uncommitted = readAll(topic, "read_uncommitted", end);
        for (int p = 0; p < PARTITIONS; p++) {
            expectRecords(uncommitted, p, concat(concat(run("t1", p, n1, 0), run("t2", p, n2, t2First)), run("t3", p, n3, t3First)),
                "read_uncommitted");
        }
        Check.log("read_uncommitted: transactions 1, 2 (aborted) and 3 on every partition, in log order, no markers");

        // A consumer that starts inside the aborted transaction must still drop the rest of it.
        long middle = t2First + n2 / 2;
        Map<TopicPartition, Long> ends = new HashMap<>();
        partitions(topic).forEach(tp -> ends.put(tp, end));
        var fromMiddle = readFrom(topic, "read_committed", middle, ends);
        for (int p = 0; p < PARTITIONS; p++) {
            expectRecords(fromMiddle, p, run("t3", p, n3, t3First), "read_committed from offset " + middle);
        }
        var fromMiddleUncommitted = readFrom(topic, "read_uncommitted", middle, ends);
        for (int p = 0; p < PARTITIONS; p++) {
            List<Expected> t2Rest = run("t2", p, n2, t2First).subList(n2 / 2, n2);
            expectRecords(fromMiddleUncommitted, p, concat(t2Rest, run("t3", p, n3, t3First)), "read_uncommitted from offset " + middle);
        }
        Check.log("from offset %d, inside aborted transaction 2: read_committed reads only transaction 3, read_uncommitted the rest of 2 and 3",
            middle);
    }

    /** Runs {@code action}, which must throw; returns what it threw. */
    private static Throwable expectThrows(String what, Check.Body action) {
        try {
            action.run();
        } catch (Throwable t) {
            return t instanceof ExecutionException && t.getCause() != null ? t.getCause() : t;
        }
        throw new AssertionError(what + " succeeded, but the producer had been fenced");
    }

    private static void expectType(Class<? extends Throwable> type, Throwable got, String what) {
        Check.expect(type.isInstance(got), "%s failed with %s, expected %s (as Kafka 4.1.2)", what, got, type.getSimpleName());
    }

    private void fencing() throws Exception {
        String topic = "java-txn-fence" + suffix;
        String transactionalId = "java-txn-fence" + suffix;
        Check.createTopic(admin, topic, PARTITIONS, Map.of());
        // Round 1: producer 1 is fenced with a transaction open, then sends again.
        KafkaProducer<String, String> p1 = producer("java-txn-fence-1", transactionalId);
        p1.initTransactions();
        p1.beginTransaction();
        Future<RecordMetadata> first = p1.send(new ProducerRecord<>(topic, 0, "k0", "p1-0"));
        p1.flush();
        Check.expectEqual(0L, Check.await(first, "producer 1's first send").offset(), "offset of producer 1's record");
        KafkaProducer<String, String> p2 = producer("java-txn-fence-2", transactionalId);
        p2.initTransactions();
        Check.log("producer 1 wrote partition 0 offset 0 in an open transaction; producer 2 (same transactional.id) initialized");

        Throwable sendError = expectThrows("producer 1's send after the fence",
            () -> p1.send(new ProducerRecord<>(topic, 1, "k1", "p1-1")).get(Check.CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));
        // Kafka answers the zombie's Produce INVALID_PRODUCER_EPOCH, an abortable error for the client...
        expectType(InvalidProducerEpochException.class, sendError, "producer 1's send after the fence");
        Throwable commitError = expectThrows("producer 1's commitTransaction", p1::commitTransaction);
        expectType(InvalidProducerEpochException.class, commitError, "producer 1's commitTransaction");
        // ... and the abort that follows meets EndTxn's PRODUCER_FENCED.
        Throwable abortError = expectThrows("producer 1's abortTransaction", p1::abortTransaction);
        expectType(ProducerFencedException.class, abortError, "producer 1's abortTransaction");
        p1.close(Duration.ZERO);
        Check.log("producer 1: send failed with %s, commitTransaction with %s, abortTransaction with %s",
            sendError.getClass().getSimpleName(), commitError.getClass().getSimpleName(), abortError.getClass().getSimpleName());

        // Round 2: producer 2 is fenced with a flushed transaction open, and commits it.
        p2.beginTransaction();
        var p2Sends = List.of(
            p2.send(new ProducerRecord<>(topic, 0, "k0", "p2-0")),
            p2.send(new ProducerRecord<>(topic, 1, "k1", "p2-1")));
        p2.flush();
        // Partition 0: p1-0 at 0, the abort marker producer 2's initTransactions wrote at 1, then p2-0.
        Check.expectEqual(2L, Check.await(p2Sends.get(0), "producer 2's send to partition 0").offset(), "offset of p2-0");
        Check.expectEqual(0L, Check.await(p2Sends.get(1), "producer 2's send to partition 1").offset(), "offset of p2-1");
        try (KafkaProducer<String, String> p3 = producer("java-txn-fence-3", transactionalId)) {
            p3.initTransactions();
            Throwable fenced = expectThrows("producer 2's commitTransaction after producer 3's initTransactions", p2::commitTransaction);
            expectType(ProducerFencedException.class, fenced, "producer 2's commitTransaction");
            p2.close(Duration.ZERO);
            Check.log("producer 2 wrote partition 0 offset 2 and partition 1 offset 0; producer 3 initialized; producer 2's commitTransaction failed with %s",
                fenced.getClass().getSimpleName());

            p3.beginTransaction();
            var p3Sends = List.of(
                p3.send(new ProducerRecord<>(topic, 0, "k0", "p3-0")),
                p3.send(new ProducerRecord<>(topic, 1, "k1", "p3-1")));
            p3.commitTransaction();
            Check.expectEqual(4L, Check.await(p3Sends.get(0), "producer 3's send to partition 0").offset(), "offset of p3-0");
            Check.expectEqual(2L, Check.await(p3Sends.get(1), "producer 3's send to partition 1").offset(), "offset of p3-1");
            Check.log("producer 3 committed partition 0 offset 4 and partition 1 offset 2");
        }

        // Partition 0: p1-0, abort, p2-0, abort, p3-0, commit; partition 1: p2-1, abort, p3-1, commit.
        Map<TopicPartition, Long> ends = sorted(Map.of(
            new TopicPartition(topic, 0), 6L,
            new TopicPartition(topic, 1), 4L,
            new TopicPartition(topic, 2), 0L));
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (!endOffsets(topic, "read_committed").equals(ends)) {
            Check.expect(System.nanoTime() < deadline, "read_committed end offsets of %s are %s, expected %s, after %d s",
                topic, endOffsets(topic, "read_committed"), ends, STEP_TIMEOUT.toSeconds());
            Thread.sleep(100);
        }
        Check.expectEqual(ends, endOffsets(topic, "read_uncommitted"), "read_uncommitted end offsets");
        var committed = readAll(topic, "read_committed", ends);
        expectRecords(committed, 0, List.of(new Expected(4, "p3-0")), "read_committed");
        expectRecords(committed, 1, List.of(new Expected(2, "p3-1")), "read_committed");
        expectRecords(committed, 2, List.of(), "read_committed");
        var uncommitted = readAll(topic, "read_uncommitted", ends);
        expectRecords(uncommitted, 0, List.of(new Expected(0, "p1-0"), new Expected(2, "p2-0"), new Expected(4, "p3-0")), "read_uncommitted");
        expectRecords(uncommitted, 1, List.of(new Expected(0, "p2-1"), new Expected(2, "p3-1")), "read_uncommitted");
        expectRecords(uncommitted, 2, List.of(), "read_uncommitted");
        Check.log("read_committed: only producer 3's records; read_uncommitted: the fenced producers' flushed records too, nothing sent after a fence");
    }

    /** Waits until partition 0's end offset under {@code isolation} is {@code expected}. */
    private void awaitEndOffset0(String topic, String isolation, long expected, String when) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (true) {
            long end = endOffsets(topic, isolation).get(tp);
            if (end == expected) {
                return;
            }
            Check.expect(System.nanoTime() < deadline, "%s end offset of %s is %d, expected %d %s, after %d s",
                isolation, tp, end, expected, when, STEP_TIMEOUT.toSeconds());
            Thread.sleep(100);
        }
    }

    /**
     * Two transactional producers (lz4, zstd) and a plain one (gzip) write to one partition in
     * turn, 10 rounds of one record each (flushed, so the log interleaves them: a, b, n, a, b, n, ...); then one
     * transaction commits and, once its marker is in the log, the other aborts. Then the same with
     * the outcomes swapped. The last stable offset stays at the first record of the transaction
     * still open, even after the other committed; read_committed drops exactly the aborted
     * producer's records, which sit between records it must keep.
     */
    private void interleaved() throws Exception {
        String topic = "java-txn-interleaved" + suffix;
        Check.createTopic(admin, topic, PARTITIONS, Map.of());
        int rounds = 10;
        List<Expected> committed = new ArrayList<>();
        List<Expected> all = new ArrayList<>();
        // Each producer compresses its batches differently; the markers are never compressed.
        try (KafkaProducer<String, String> a = producer("java-txn-interleaved-a", "java-txn-interleaved-a" + suffix, 60_000, "lz4");
                KafkaProducer<String, String> b = producer("java-txn-interleaved-b", "java-txn-interleaved-b" + suffix, 60_000, "zstd");
                KafkaProducer<String, String> n = producer("java-txn-interleaved-n", null, 60_000, "gzip")) {
            a.initTransactions();
            b.initTransactions();
            long offset = 0;
            for (int phase = 1; phase <= 2; phase++) {
                // Phase 1: a aborts, b commits; phase 2: a commits, b aborts.
                KafkaProducer<String, String> winner = phase == 1 ? b : a;
                KafkaProducer<String, String> loser = phase == 1 ? a : b;
                String winnerName = phase == 1 ? "b" : "a";
                // Each round writes a, then b, then n: the loser's first record is a's or b's first.
                long firstOfLoser = phase == 1 ? offset : offset + 1;
                long first = offset;
                a.beginTransaction();
                b.beginTransaction();
                for (int r = 0; r < rounds; r++) {
                    for (String who : List.of("a", "b", "n")) {
                        KafkaProducer<String, String> producer = who.equals("a") ? a : who.equals("b") ? b : n;
                        String value = who + phase + "-" + r;
                        Future<RecordMetadata> f = producer.send(new ProducerRecord<>(topic, 0, who, value));
                        producer.flush();
                        Check.expectEqual(offset, Check.await(f, "send of " + value).offset(), "offset of %s", value);
                        Expected e = new Expected(offset++, value);
                        all.add(e);
                        if (who.equals("n") || who.equals(winnerName)) {
                            committed.add(e);
                        }
                    }
                }
                awaitEndOffset0(topic, "read_committed", first, "while both transactions are open");
                winner.commitTransaction();
                long winnerMarker = offset++;
                awaitEndOffset0(topic, "read_uncommitted", winnerMarker + 1, "once the commit marker is written");
                awaitEndOffset0(topic, "read_committed", firstOfLoser, "after " + winnerName + "'s commit, with the other transaction open");
                loser.abortTransaction();
                long loserMarker = offset++;
                awaitEndOffset0(topic, "read_committed", loserMarker + 1, "after both transactions ended");
                Check.log("phase %d: a, b (transactional) and n (plain) interleaved at offsets %d..%d; %s committed (marker %d), "
                    + "the last stable offset stayed at %d until the other aborted (marker %d)",
                    phase, first, winnerMarker - 1, winnerName, winnerMarker, firstOfLoser, loserMarker);
            }
            Map<TopicPartition, Long> ends = sorted(Map.of(
                new TopicPartition(topic, 0), offset,
                new TopicPartition(topic, 1), 0L,
                new TopicPartition(topic, 2), 0L));
            expectRecords(readAll(topic, "read_committed", ends), 0, committed, "read_committed");
            expectRecords(readAll(topic, "read_uncommitted", ends), 0, all, "read_uncommitted");
            Check.log("read_committed: the committed transactions' and the plain producer's records, none of the aborted ones; "
                + "read_uncommitted: all %d", all.size());
        }
    }

    /**
     * A producer with {@code transaction.timeout.ms=2000} writes to two partitions and then goes
     * quiet: the coordinator aborts the transaction on its own (abort markers; the last stable
     * offset moves past them), and the producer's late commit fails with InvalidTxnStateException. A new producer with the same
     * transactional id then commits; read_committed shows only its records.
     */
    private void timeout() throws Exception {
        String topic = "java-txn-timeout" + suffix;
        String transactionalId = "java-txn-timeout" + suffix;
        Check.createTopic(admin, topic, PARTITIONS, Map.of());
        try (KafkaProducer<String, String> slow = producer("java-txn-timeout-slow", transactionalId, 2000)) {
            slow.initTransactions();
            slow.beginTransaction();
            var sends = List.of(
                slow.send(new ProducerRecord<>(topic, 0, "k0", "slow-0")),
                slow.send(new ProducerRecord<>(topic, 1, "k1", "slow-1")));
            slow.flush();
            Check.expectEqual(0L, Check.await(sends.get(0), "send to partition 0").offset(), "offset of slow-0");
            Check.expectEqual(0L, Check.await(sends.get(1), "send to partition 1").offset(), "offset of slow-1");
            long started = System.nanoTime();
            Check.expectEqual(0L, endOffsets(topic, "read_committed").get(new TopicPartition(topic, 0)),
                "last stable offset of partition 0 while the transaction is open");
            // Kafka looks for timed-out transactions every 10 s (transaction.abort.timed.out.transaction.cleanup.interval.ms).
            long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
            Map<TopicPartition, Long> aborted = sorted(Map.of(
                new TopicPartition(topic, 0), 2L, new TopicPartition(topic, 1), 2L, new TopicPartition(topic, 2), 0L));
            while (!endOffsets(topic, "read_committed").equals(aborted)) {
                Check.expect(System.nanoTime() < deadline, "read_committed end offsets are %s, not %s (abort markers at 1), %d s after the transaction began with a 2 s timeout",
                    endOffsets(topic, "read_committed"), aborted, STEP_TIMEOUT.toSeconds());
                Thread.sleep(200);
            }
            Check.log("the coordinator aborted the quiet transaction %.1f s after it began: markers at offset 1 of partitions 0 and 1",
                (System.nanoTime() - started) / 1e9);
            TransactionDescription described = describeTransaction(transactionalId);
            Check.expectEqual(TransactionState.COMPLETE_ABORT, described.state(), "described state after the timeout");
            Throwable late = expectThrows("the timed-out producer's commitTransaction", slow::commitTransaction);
            // Transaction version 2: the timeout's abort bumped the epoch, and EndTxn(commit) at the
            // epoch before it, with the transaction CompleteAbort, answers INVALID_TXN_STATE.
            expectType(InvalidTxnStateException.class, late, "the timed-out producer's commitTransaction");
            Check.log("the timed-out producer's commitTransaction failed with %s", late.getClass().getSimpleName());
            slow.close(Duration.ZERO);
        }
        try (KafkaProducer<String, String> next = producer("java-txn-timeout-next", transactionalId)) {
            next.initTransactions();
            next.beginTransaction();
            var sends = List.of(
                next.send(new ProducerRecord<>(topic, 0, "k0", "next-0")),
                next.send(new ProducerRecord<>(topic, 1, "k1", "next-1")));
            next.commitTransaction();
            Check.expectEqual(2L, Check.await(sends.get(0), "send to partition 0").offset(), "offset of next-0");
            Check.expectEqual(2L, Check.await(sends.get(1), "send to partition 1").offset(), "offset of next-1");
        }
        Map<TopicPartition, Long> ends = sorted(Map.of(
            new TopicPartition(topic, 0), 4L, new TopicPartition(topic, 1), 4L, new TopicPartition(topic, 2), 0L));
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (!endOffsets(topic, "read_committed").equals(ends)) {
            Check.expect(System.nanoTime() < deadline, "read_committed end offsets are %s, not %s", endOffsets(topic, "read_committed"), ends);
            Thread.sleep(100);
        }
        var committed = readAll(topic, "read_committed", ends);
        expectRecords(committed, 0, List.of(new Expected(2, "next-0")), "read_committed");
        expectRecords(committed, 1, List.of(new Expected(2, "next-1")), "read_committed");
        var uncommitted = readAll(topic, "read_uncommitted", ends);
        expectRecords(uncommitted, 0, List.of(new Expected(0, "slow-0"), new Expected(2, "next-0")), "read_uncommitted");
        Check.log("a new producer with the same id committed at offset 2; read_committed shows only its records");
    }

    private Map<TopicPartition, Long> groupOffsets(String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = Check.await(
            admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true)).partitionsToOffsetAndMetadata(),
            "listConsumerGroupOffsets " + group);
        Map<TopicPartition, Long> plain = sorted(Map.of());
        offsets.forEach((tp, om) -> {
            if (om != null) {
                plain.put(tp, om.offset());
            }
        });
        return plain;
    }

    private static Map<TopicPartition, Long> plain(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<TopicPartition, Long> plain = sorted(Map.of());
        offsets.forEach((tp, om) -> plain.put(tp, om.offset()));
        return plain;
    }

    /**
     * KIP-447's fencing of a consume-transform-produce loop by the group generation: consumer 1
     * reads a batch and its producer begins a transaction with the transformed records; consumer 2
     * joins the group, and once consumer 1 has rejoined at a newer generation, the transaction's
     * {@code sendOffsetsToTransaction} with the group metadata taken before the rebalance fails
     * with {@code CommitFailedException} (TxnOffsetCommit's ILLEGAL_GENERATION, as Kafka 4.1.2);
     * the transaction aborts and the group has no offsets. With the current metadata, the same
     * producer then commits consumer 1's share, and the group's offsets are exactly those.
     */
    private void generation() throws Exception {
        String in = "java-txn-gen-in" + suffix;
        String out = "java-txn-gen-out" + suffix;
        String group = "java-txn-gen" + suffix;
        int perPartition = 100;
        Check.createTopic(admin, in, PARTITIONS, Map.of());
        Check.createTopic(admin, out, PARTITIONS, Map.of());
        try (KafkaProducer<String, String> plain = producer("java-txn-gen-input", null)) {
            expectOffsets(sendAll(plain, in, "in", perPartition), 0, "input");
        }
        try (KafkaConsumer<String, String> c1 = consumer("java-txn-gen-1", "read_committed", group);
                KafkaProducer<String, String> producer = producer("java-txn-gen-producer", "java-txn-gen" + suffix)) {
            producer.initTransactions();
            c1.subscribe(List.of(in));
            long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
            ConsumerRecords<String, String> batch = ConsumerRecords.empty();
            while (batch.isEmpty()) {
                Check.expect(System.nanoTime() < deadline, "consumer 1 read nothing within %d s", STEP_TIMEOUT.toSeconds());
                batch = c1.poll(Duration.ofMillis(100));
            }
            var before = c1.groupMetadata();
            producer.beginTransaction();
            Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
            for (ConsumerRecord<String, String> r : batch) {
                producer.send(new ProducerRecord<>(out, r.partition(), r.key(), r.value().replaceFirst("^in-", "out-")));
                next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
            }
            producer.flush();
            Check.log("consumer 1 (generation %d) read %d records; the transaction holds their transforms", before.generationId(), batch.count());

            // Consumer 2 joins from its own thread; consumer 1 rejoins in its polls.
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.atomic.AtomicReference<Set<TopicPartition>> ofC2 = new java.util.concurrent.atomic.AtomicReference<>(Set.of());
            java.util.concurrent.atomic.AtomicReference<Throwable> c2Failure = new java.util.concurrent.atomic.AtomicReference<>();
            Thread c2Thread = new Thread(() -> {
                try (KafkaConsumer<String, String> c2 = consumer("java-txn-gen-2", "read_committed", group)) {
                    c2.subscribe(List.of(in));
                    while (!stop.get()) {
                        c2.poll(Duration.ofMillis(100));
                        ofC2.set(Set.copyOf(c2.assignment()));
                    }
                } catch (Throwable t) {
                    c2Failure.set(t);
                }
            }, "consumer-2");
            c2Thread.start();
            try {
                deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
                while (c1.groupMetadata().generationId() <= before.generationId() || ofC2.get().isEmpty()) {
                    Check.expect(c2Failure.get() == null, "consumer 2 failed: %s", c2Failure.get());
                    Check.expect(System.nanoTime() < deadline, "no rebalance within %d s: consumer 1 at generation %d with %s, consumer 2 with %s",
                        STEP_TIMEOUT.toSeconds(), c1.groupMetadata().generationId(), c1.assignment(), ofC2.get());
                    c1.poll(Duration.ofMillis(100));
                }
                Check.log("consumer 2 joined: consumer 1 at generation %d with %s, consumer 2 with %s",
                    c1.groupMetadata().generationId(), c1.assignment(), ofC2.get());

                Throwable stale = expectThrows("sendOffsetsToTransaction with the metadata of generation " + before.generationId(),
                    () -> producer.sendOffsetsToTransaction(next, before));
                expectType(CommitFailedException.class, stale, "sendOffsetsToTransaction with a stale generation");
                producer.abortTransaction();
                Check.expectEqual(Map.of(), groupOffsets(group), "group offsets after the stale attempt");
                Check.log("sendOffsetsToTransaction with generation %d failed with %s; aborted; the group has no offsets",
                    before.generationId(), stale.getClass().getSimpleName());

                // Consumer 1's own share, from the beginning, with the current metadata.
                Set<TopicPartition> mine = Set.copyOf(c1.assignment());
                Check.expect(!mine.isEmpty(), "consumer 1 has no partitions after the rebalance");
                c1.seekToBeginning(mine);
                Map<TopicPartition, Long> positions = sorted(Map.of());
                for (TopicPartition tp : mine) {
                    positions.put(tp, 0L);
                }
                Map<TopicPartition, Long> ends = sorted(Map.of());
                for (TopicPartition tp : mine) {
                    ends.put(tp, (long) perPartition);
                }
                producer.beginTransaction();
                deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
                while (!positions.equals(ends)) {
                    Check.expect(System.nanoTime() < deadline, "consumer 1 read to %s, not %s, within %d s", positions, ends, STEP_TIMEOUT.toSeconds());
                    for (ConsumerRecord<String, String> r : c1.poll(Duration.ofMillis(100))) {
                        producer.send(new ProducerRecord<>(out, r.partition(), r.key(), r.value().replaceFirst("^in-", "out-")));
                        positions.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                    }
                }
                Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
                positions.forEach((tp, o) -> commit.put(tp, new OffsetAndMetadata(o)));
                producer.sendOffsetsToTransaction(commit, c1.groupMetadata());
                producer.commitTransaction();
                Check.expectEventually(ends, () -> groupOffsets(group), "group offsets after consumer 1's commit");
                Check.log("with generation %d's metadata consumer 1's partitions %s committed at %d", c1.groupMetadata().generationId(),
                    mine, perPartition);
            } finally {
                stop.set(true);
                c2Thread.join(30_000);
            }
        }
    }

    private void offsets() throws Exception {
        String in = "java-txn-ctp-in" + suffix;
        String out = "java-txn-ctp-out" + suffix;
        String group = "java-txn-ctp" + suffix;
        int perPartition = 200;
        Check.createTopic(admin, in, PARTITIONS, Map.of());
        Check.createTopic(admin, out, PARTITIONS, Map.of());
        try (KafkaProducer<String, String> plain = producer("java-txn-ctp-input", null)) {
            expectOffsets(sendAll(plain, in, "in", perPartition), 0, "input");
        }
        Check.log("input: %d records per partition", perPartition);

        Map<TopicPartition, Long> committedOffsets = sorted(Map.of());
        Map<TopicPartition, Long> inputEnds = sorted(Map.of());
        for (TopicPartition tp : partitions(in)) {
            inputEnds.put(tp, (long) perPartition);
        }
        int aborted = 0;
        try (KafkaConsumer<String, String> consumer = consumer("java-txn-ctp-consumer", "read_committed", group);
                KafkaProducer<String, String> producer = producer("java-txn-ctp-producer", "java-txn-ctp" + suffix)) {
            producer.initTransactions();
            consumer.subscribe(List.of(in));
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            for (int attempt = 0; !committedOffsets.equals(inputEnds); attempt++) {
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(100));
                Check.expect(System.nanoTime() < deadline, "after %d attempts in 120 s the group's offsets are %s, not %s",
                    attempt, committedOffsets, inputEnds);
                if (records.isEmpty()) {
                    attempt--;
                    continue;
                }
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    producer.send(new ProducerRecord<>(out, r.partition(), r.key(), r.value().replaceFirst("^in-", "out-")));
                    next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
                if (attempt == 0 || attempt == 3) {
                    producer.flush();
                    producer.abortTransaction();
                    aborted += records.count();
                    // Back to what the group has committed (the beginning where it has nothing).
                    Map<TopicPartition, Long> now = groupOffsets(group);
                    Check.expectEqual(committedOffsets, now, "group offsets after aborted attempt %d", attempt);
                    for (TopicPartition tp : consumer.assignment()) {
                        Long offset = now.get(tp);
                        if (offset == null) {
                            consumer.seekToBeginning(List.of(tp));
                        } else {
                            consumer.seek(tp, offset);
                        }
                    }
                    Check.log("attempt %d: %d records transformed, offsets %s sent, aborted; group offsets still %s",
                        attempt, records.count(), plain(next), now.isEmpty() ? "none" : now);
                } else {
                    producer.commitTransaction();
                    next.forEach((tp, om) -> committedOffsets.put(tp, om.offset()));
                    if (attempt <= 5) {
                        Check.log("attempt %d: %d records transformed, offsets %s committed", attempt, records.count(), plain(next));
                    }
                }
            }
            Check.log("all input consumed: group offsets %s", committedOffsets);
        }

        Check.expectEventually(inputEnds, () -> groupOffsets(group), "group offsets (require_stable) at the end");
        Map<TopicPartition, Long> finalOffsets = groupOffsets(group);
        Map<TopicPartition, Long> outEnds = new HashMap<>();
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        // Every output partition ends with a commit marker; wait for the last stable offset to pass it.
        while (true) {
            Map<TopicPartition, Long> committedEnds = endOffsets(out, "read_committed");
            Map<TopicPartition, Long> uncommittedEnds = endOffsets(out, "read_uncommitted");
            if (committedEnds.equals(uncommittedEnds)) {
                outEnds.putAll(committedEnds);
                break;
            }
            Check.expect(System.nanoTime() < deadline, "output end offsets: read_committed %s, read_uncommitted %s after %d s",
                committedEnds, uncommittedEnds, STEP_TIMEOUT.toSeconds());
            Thread.sleep(100);
        }
        var output = readAll(out, "read_committed", outEnds);
        for (int p = 0; p < PARTITIONS; p++) {
            List<String> values = new ArrayList<>();
            for (ConsumerRecord<String, String> r : output.get(p)) {
                values.add(r.value());
            }
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < perPartition; i++) {
                expected.add(value("out", p, i));
            }
            Check.expectEqual(expected, values, "committed output of partition %d", p);
            Check.expectEqual(finalOffsets.get(new TopicPartition(in, p)), (long) values.size(),
                "group offset of input partition %d against the committed output's length", p);
        }
        var everything = readAll(out, "read_uncommitted", outEnds);
        int total = everything.values().stream().mapToInt(List::size).sum();
        Check.expectEqual(PARTITIONS * perPartition + aborted, total, "records in the output under read_uncommitted (committed + aborted)");
        Check.log("committed output: each input record's transform once, in order; group offsets = output length = %d per partition; "
            + "read_uncommitted also shows the %d aborted records", perPartition, aborted);
    }
}
