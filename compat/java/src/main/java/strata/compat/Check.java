package strata.compat;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaFuture;

/**
 * What every check shares: a bounded run (a watchdog ends the JVM if a check outlives its budget, so
 * nothing hangs), assertions that say what was expected and what came back, client settings with
 * explicit timeouts, and futures that are always awaited with a timeout.
 *
 * A check prints its steps to stdout and ends with "PASS name" (exit 0) or "FAILED: why" (exit 1).
 */
final class Check {
    /** How long one admin call or future may take before the check fails. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

    private Check() {}

    /** A check's body; any exception or failed expectation fails the check. */
    interface Body {
        void run() throws Exception;
    }

    /** Runs a check with a watchdog of {@code budgetSeconds} and exits with its result. */
    static void run(String name, int budgetSeconds, Body body) {
        Thread main = Thread.currentThread();
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(budgetSeconds));
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("FAILED: " + name + " did not finish within " + budgetSeconds + " s; main thread was at:");
            for (StackTraceElement frame : main.getStackTrace()) {
                System.out.println("    at " + frame);
            }
            System.out.flush();
            Runtime.getRuntime().halt(2);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        long started = System.nanoTime();
        try {
            body.run();
        } catch (Throwable t) {
            System.out.println("FAILED: " + name + ": " + t);
            Throwable cause = t.getCause();
            while (cause != null) {
                System.out.println("  caused by: " + cause);
                cause = cause.getCause();
            }
            t.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
        System.out.printf("PASS %s (%.1f s)%n", name, (System.nanoTime() - started) / 1e9);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    static void log(String format, Object... args) {
        System.out.println("  " + String.format(format, args));
        System.out.flush();
    }

    static void expect(boolean condition, String format, Object... args) {
        if (!condition) {
            throw new AssertionError(String.format(format, args));
        }
    }

    static void expectEqual(Object expected, Object got, String format, Object... args) {
        if (!Objects.equals(expected, got)) {
            throw new AssertionError(String.format(format, args) + ": expected " + expected + ", got " + got);
        }
    }

    /** Something to read again until it has the expected value. */
    interface Reading<T> {
        T read() throws Exception;
    }

    /**
     * Reads until {@code reading} gives {@code expected}, for at most {@link #CALL_TIMEOUT}: for
     * what a broker makes visible a moment after it answered (a committed transaction's group
     * offsets appear once the coordinator's markers reach the group's partition, which Kafka writes
     * after EndTxn has answered).
     */
    static <T> void expectEventually(T expected, Reading<T> reading, String format, Object... args) throws Exception {
        long deadline = System.nanoTime() + CALL_TIMEOUT.toNanos();
        T got = reading.read();
        while (!Objects.equals(expected, got) && System.nanoTime() < deadline) {
            Thread.sleep(100);
            got = reading.read();
        }
        expectEqual(expected, got, format, args);
    }

    /** Awaits a future for at most {@link #CALL_TIMEOUT}, unwrapping the ExecutionException. */
    static <T> T await(KafkaFuture<T> future, String what) throws Exception {
        try {
            return future.get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new AssertionError(what + " failed: " + cause, cause);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not complete within " + CALL_TIMEOUT.toSeconds() + " s", e);
        }
    }

    /** Awaits a future that must fail, returning its cause. */
    static Throwable awaitFailure(KafkaFuture<?> future, String what) throws Exception {
        try {
            Object value = future.get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            throw new AssertionError(what + " succeeded (" + value + ") but was expected to fail");
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not complete within " + CALL_TIMEOUT.toSeconds() + " s", e);
        }
    }

    static <T> T await(java.util.concurrent.Future<T> future, String what) throws Exception {
        try {
            return future.get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new AssertionError(what + " failed: " + cause, cause);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not complete within " + CALL_TIMEOUT.toSeconds() + " s", e);
        }
    }

    /** Settings every client gets: the bootstrap, a client id and bounded request times. */
    static Properties clientProps(String bootstrap, String clientId) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("client.id", clientId);
        props.put("request.timeout.ms", "15000");
        props.put("default.api.timeout.ms", "30000");
        return props;
    }

    static Admin admin(String bootstrap, String clientId) {
        Properties props = clientProps(bootstrap, clientId);
        props.put(AdminClientConfig.RETRIES_CONFIG, "5");
        return Admin.create(props);
    }

    /** Creates a topic with replication factor 1 and waits until its metadata names a leader for every partition. */
    static void createTopic(Admin admin, String topic, int partitions, Map<String, String> configs) throws Exception {
        await(admin.createTopics(java.util.List.of(new NewTopic(topic, partitions, (short) 1).configs(configs))).all(),
            "createTopics " + topic);
        long deadline = System.nanoTime() + CALL_TIMEOUT.toNanos();
        while (true) {
            try {
                var description = admin.describeTopics(java.util.List.of(topic)).allTopicNames()
                    .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(topic);
                if (description.partitions().size() == partitions
                        && description.partitions().stream().allMatch(p -> p.leader() != null)) {
                    return;
                }
            } catch (ExecutionException e) {
                // Kafka may answer UNKNOWN_TOPIC_OR_PARTITION for a moment after creation.
            }
            expect(System.nanoTime() < deadline, "topic %s has no leader for all %d partitions after %d s",
                topic, partitions, CALL_TIMEOUT.toSeconds());
            Thread.sleep(100);
        }
    }
}
