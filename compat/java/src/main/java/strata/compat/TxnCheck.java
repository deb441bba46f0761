package strata.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code TxnCheck <bootstrap>}: Kafka's Java producer with a transactional id (kafka-clients 4.1
 * speaks transaction version 2 when the broker finalizes it: Produce v12 adds the partitions,
 * EndTxn v5 bumps the epoch) commits 300 records over 3 partitions, aborts 150, commits 30 more;
 * a read_committed consumer reads exactly the 330 committed records, a read_uncommitted one all
 * 480. A second producer with the same transactional id fences the first (ProducerFencedException
 * on its next commit). The Admin client lists and describes the transactions.
 */
public final class TxnCheck {
    private static final int PARTITIONS = 3;

    public static void main(String[] args) {
        String bootstrap = args[0];
        Check.run("transactions", 200, () -> run(bootstrap));
    }

    static KafkaProducer<byte[], byte[]> producer(String bootstrap, String transactionalId) {
        Properties props = Check.clientProps(bootstrap, "txn-check-" + transactionalId);
        props.put("transactional.id", transactionalId);
        props.put("transaction.timeout.ms", "60000");
        props.put("max.block.ms", "30000");
        KafkaProducer<byte[], byte[]> producer =
            new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
        producer.initTransactions();
        return producer;
    }

    static void send(KafkaProducer<byte[], byte[]> producer, String topic, String tag, int perPartition) throws Exception {
        for (int p = 0; p < PARTITIONS; p++) {
            for (int i = 0; i < perPartition; i++) {
                byte[] value = (tag + "-" + p + "-" + i).getBytes(StandardCharsets.UTF_8);
                producer.send(new ProducerRecord<>(topic, p, null, value));
            }
        }
        producer.flush();
    }

    static List<String> read(String bootstrap, String topic, String isolation, int expected) throws Exception {
        Properties props = Check.clientProps(bootstrap, "txn-check-" + isolation);
        props.put("isolation.level", isolation);
        props.put("enable.auto.commit", "false");
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                partitions.add(new TopicPartition(topic, p));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            long quietSince = System.nanoTime();
            while (values.size() < expected || System.nanoTime() - quietSince < Duration.ofSeconds(1).toNanos()) {
                Check.expect(System.nanoTime() < deadline, "%s: %d of %d records", isolation, values.size(), expected);
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                    values.add(new String(record.value(), StandardCharsets.UTF_8));
                    quietSince = System.nanoTime();
                }
            }
        }
        return values;
    }

    static void run(String bootstrap) throws Exception {
        String topic = "java-txn-" + System.nanoTime();
        try (Admin admin = Check.admin(bootstrap, "txn-check-admin")) {
            Check.createTopic(admin, topic, PARTITIONS, Map.of());
            String id = topic + "-tx";
            try (KafkaProducer<byte[], byte[]> producer = producer(bootstrap, id)) {
                producer.beginTransaction();
                send(producer, topic, "first", 100);
                producer.commitTransaction();
                producer.beginTransaction();
                send(producer, topic, "aborted", 50);
                producer.abortTransaction();
                producer.beginTransaction();
                send(producer, topic, "second", 10);
                producer.commitTransaction();
                Check.log("committed 330, aborted 150");

                List<String> committed = read(bootstrap, topic, "read_committed", 330);
                Check.expectEqual(330, committed.size(), "read_committed records");
                Check.expect(committed.stream().noneMatch(v -> v.startsWith("aborted")), "read_committed read an aborted record");
                Check.expectEqual(480, read(bootstrap, topic, "read_uncommitted", 480).size(), "read_uncommitted records");

                TransactionDescription described = Check.await(admin.describeTransactions(List.of(id)).description(id), "describeTransactions");
                Check.expectEqual("COMPLETE_COMMIT", described.state().name(), "described state");
                Collection<TransactionListing> listed = Check.await(admin.listTransactions().all(), "listTransactions");
                Check.expect(listed.stream().anyMatch(l -> l.transactionalId().equals(id)), "listTransactions lacks %s: %s", id,
                    listed.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()));

                // A second producer with the same id fences this one.
                producer.beginTransaction();
                send(producer, topic, "zombie", 1);
                try (KafkaProducer<byte[], byte[]> successor = producer(bootstrap, id)) {
                    try {
                        producer.commitTransaction();
                        throw new AssertionError("the fenced producer committed");
                    } catch (ProducerFencedException expected) {
                        Check.log("the first producer is fenced: %s", expected.getMessage());
                    }
                    successor.beginTransaction();
                    send(successor, topic, "successor", 1);
                    successor.commitTransaction();
                }
                Check.expectEqual(333, read(bootstrap, topic, "read_committed", 333).size(), "read_committed after the fence");
            }
        }
    }
}
