package strata.compat;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;

import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.OffsetOutOfRangeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownMemberIdException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * {@code AdminCheck <bootstrap>}: the Admin client's topic, config, record and group calls, each
 * followed by a read that shows its effect: describeCluster; createTopics (partitions, configs;
 * again gives TopicExists); listTopics; describeTopics; describeConfigs (topic and broker);
 * incrementalAlterConfigs SET and DELETE (and an invalid value refused); createPartitions (and a
 * decrease refused); deleteRecords (earliest offset moves; past the end refused); listConsumerGroups,
 * describeConsumerGroups, listConsumerGroupOffsets, alterConsumerGroupOffsets and
 * deleteConsumerGroups around a live and then an empty classic group; deleteTopics.
 */
public final class AdminCheck {
    private static final String TOPIC_A = "java-admin-a";
    private static final String TOPIC_B = "java-admin-b";
    private static final String GROUP = "java-admin-group";

    public static void main(String[] args) {
        Check.run("admin client", 150, () -> run(args[0]));
    }

    private static <T extends Throwable> T expectFailure(Class<T> type, Throwable got, String what) {
        Check.expect(type.isInstance(got), "%s: expected %s, got %s", what, type.getSimpleName(), got);
        return type.cast(got);
    }

    private static Config topicConfig(Admin admin, String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return Check.await(admin.describeConfigs(List.of(resource)).all(), "describeConfigs " + topic).get(resource);
    }

    private static void expectConfig(Config config, String name, String value, ConfigEntry.ConfigSource source) {
        ConfigEntry entry = config.get(name);
        Check.expect(entry != null, "describeConfigs has no entry %s", name);
        Check.expectEqual(value, entry.value(), "value of %s", name);
        Check.expectEqual(source, entry.source(), "source of %s", name);
    }

    private static Map<TopicPartition, Long> offsets(Admin admin, Map<TopicPartition, OffsetSpec> specs, String what) throws Exception {
        return Check.await(admin.listOffsets(specs).all(), what).entrySet().stream()
            .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
    }

    private static Map<TopicPartition, Long> groupOffsets(Admin admin) throws Exception {
        return Check.await(admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata(), "listConsumerGroupOffsets")
            .entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
    }

    private static ConsumerGroupDescription describeGroup(Admin admin) throws Exception {
        return Check.await(admin.describeConsumerGroups(List.of(GROUP)).all(), "describeConsumerGroups").get(GROUP);
    }

    private static void run(String bootstrap) throws Exception {
        int bootstrapPort = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        try (Admin admin = Check.admin(bootstrap, "java-admin")) {
            // describeCluster
            DescribeClusterResult cluster = admin.describeCluster();
            String clusterId = Check.await(cluster.clusterId(), "describeCluster clusterId");
            Collection<Node> nodes = Check.await(cluster.nodes(), "describeCluster nodes");
            Node controller = Check.await(cluster.controller(), "describeCluster controller");
            Check.expect(clusterId != null && !clusterId.isEmpty(), "describeCluster gave no cluster id");
            Check.expectEqual(1, nodes.size(), "number of nodes (%s)", nodes);
            Node node = nodes.iterator().next();
            Check.expectEqual(bootstrapPort, node.port(), "the node's advertised port");
            Check.expect(controller != null && !controller.isEmpty(), "describeCluster gave no controller");
            Check.log("describeCluster: cluster %s, node %s, controller %s", clusterId, node, controller);

            // createTopics with partitions and configs; creating one again is refused.
            Check.createTopic(admin, TOPIC_A, 3, Map.of("retention.ms", "3600000", "max.message.bytes", "2000000",
                "cleanup.policy", "delete"));
            Check.createTopic(admin, TOPIC_B, 1, Map.of());
            Throwable exists = Check.awaitFailure(admin.createTopics(List.of(new NewTopic(TOPIC_B, 1, (short) 1))).all(),
                "createTopics of an existing topic");
            expectFailure(TopicExistsException.class, exists, "createTopics of an existing topic");
            Check.log("createTopics: %s (3 partitions, 3 configs) and %s; again: %s", TOPIC_A, TOPIC_B,
                exists.getClass().getSimpleName());

            // listTopics
            Set<String> names = Check.await(admin.listTopics().names(), "listTopics");
            Check.expect(names.containsAll(Set.of(TOPIC_A, TOPIC_B)), "listTopics %s lacks %s or %s", names, TOPIC_A, TOPIC_B);
            Check.expect(!names.contains("__consumer_offsets"), "listTopics without listInternal names __consumer_offsets");
            Check.log("listTopics: %s", names);

            // describeTopics
            Map<String, TopicDescription> described = Check.await(admin.describeTopics(List.of(TOPIC_A, TOPIC_B)).allTopicNames(),
                "describeTopics");
            TopicDescription a = described.get(TOPIC_A);
            Check.expectEqual(3, a.partitions().size(), "partitions of %s", TOPIC_A);
            Check.expect(!a.isInternal(), "%s described as internal", TOPIC_A);
            Check.expect(a.topicId() != null && !a.topicId().equals(Uuid.ZERO_UUID), "%s has no topic id", TOPIC_A);
            for (int p = 0; p < 3; p++) {
                TopicPartitionInfo info = a.partitions().get(p);
                Check.expectEqual(p, info.partition(), "partition id at index %d", p);
                Check.expectEqual(node.id(), info.leader() == null ? null : info.leader().id(), "leader of %s-%d", TOPIC_A, p);
                Check.expectEqual(List.of(node.id()), info.replicas().stream().map(Node::id).collect(Collectors.toList()),
                    "replicas of %s-%d", TOPIC_A, p);
                Check.expectEqual(List.of(node.id()), info.isr().stream().map(Node::id).collect(Collectors.toList()),
                    "isr of %s-%d", TOPIC_A, p);
            }
            Check.expectEqual(1, described.get(TOPIC_B).partitions().size(), "partitions of %s", TOPIC_B);
            Check.expect(!a.topicId().equals(described.get(TOPIC_B).topicId()), "both topics have id %s", a.topicId());
            Check.log("describeTopics: %s id %s, 3 partitions led by node %d", TOPIC_A, a.topicId(), node.id());

            // describeConfigs: the topic's own settings and defaults, and the broker's.
            Config config = topicConfig(admin, TOPIC_A);
            expectConfig(config, "retention.ms", "3600000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            expectConfig(config, "max.message.bytes", "2000000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            expectConfig(config, "cleanup.policy", "delete", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            expectConfig(config, "min.compaction.lag.ms", "0", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
            ConfigResource brokerResource = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(node.id()));
            Config brokerConfig = Check.await(admin.describeConfigs(List.of(brokerResource)).all(), "describeConfigs broker")
                .get(brokerResource);
            Check.expect(brokerConfig != null && brokerConfig.get("num.partitions") != null,
                "describeConfigs of broker %d has no num.partitions", node.id());
            Check.log("describeConfigs: %s has its 3 settings (dynamic) and defaults; broker has %d entries",
                TOPIC_A, brokerConfig.entries().size());

            // incrementalAlterConfigs: SET one, add one, DELETE one; then describe shows each.
            ConfigResource resourceA = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC_A);
            Check.await(admin.incrementalAlterConfigs(Map.of(resourceA, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("segment.ms", "600000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE)))).all(),
                "incrementalAlterConfigs");
            config = topicConfig(admin, TOPIC_A);
            expectConfig(config, "retention.ms", "7200000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            expectConfig(config, "segment.ms", "600000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            expectConfig(config, "cleanup.policy", "delete", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            ConfigEntry maxMessage = config.get("max.message.bytes");
            Check.expect(maxMessage != null, "max.message.bytes missing after DELETE");
            Check.expect(maxMessage.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG && !"2000000".equals(maxMessage.value()),
                "max.message.bytes after DELETE is still the topic's own: %s", maxMessage);
            if (maxMessage.source() == ConfigEntry.ConfigSource.DEFAULT_CONFIG) {
                Check.expectEqual("1048588", maxMessage.value(), "default max.message.bytes");
            }
            Throwable invalid = Check.awaitFailure(admin.incrementalAlterConfigs(Map.of(resourceA, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "not-a-number"), AlterConfigOp.OpType.SET)))).all(),
                "incrementalAlterConfigs retention.ms=not-a-number");
            expectFailure(InvalidConfigurationException.class, invalid, "incrementalAlterConfigs retention.ms=not-a-number");
            expectConfig(topicConfig(admin, TOPIC_A), "retention.ms", "7200000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
            Check.log("incrementalAlterConfigs: SET retention.ms, segment.ms and DELETE max.message.bytes (now %s from %s); invalid value: %s",
                maxMessage.value(), maxMessage.source(), invalid.getClass().getSimpleName());

            // createPartitions: 1 -> 3; a decrease is refused.
            Check.await(admin.createPartitions(Map.of(TOPIC_B, NewPartitions.increaseTo(3))).all(), "createPartitions " + TOPIC_B);
            long deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            while (Check.await(admin.describeTopics(List.of(TOPIC_B)).allTopicNames(), "describeTopics " + TOPIC_B)
                       .get(TOPIC_B).partitions().size() != 3) {
                Check.expect(System.nanoTime() < deadline, "%s does not show 3 partitions after createPartitions", TOPIC_B);
                Thread.sleep(100);
            }
            Throwable decrease = Check.awaitFailure(admin.createPartitions(Map.of(TOPIC_B, NewPartitions.increaseTo(2))).all(),
                "createPartitions 3 -> 2");
            expectFailure(InvalidPartitionsException.class, decrease, "createPartitions 3 -> 2");
            Check.log("createPartitions: %s 1 -> 3; 3 -> 2 refused with %s", TOPIC_B, decrease.getClass().getSimpleName());

            // deleteRecords: 100 records per partition of A, then everything before offset 40 of partition 0 goes.
            Properties producerProps = Check.clientProps(bootstrap, "java-admin-producer");
            producerProps.put("acks", "all");
            producerProps.put("max.block.ms", "30000");
            producerProps.put("delivery.timeout.ms", "60000");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps, new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 100; i++) {
                    for (int p = 0; p < 3; p++) {
                        producer.send(new ProducerRecord<>(TOPIC_A, p, "k", "v" + i));
                    }
                }
                producer.flush();
            }
            TopicPartition a0 = new TopicPartition(TOPIC_A, 0);
            TopicPartition a1 = new TopicPartition(TOPIC_A, 1);
            TopicPartition a2 = new TopicPartition(TOPIC_A, 2);
            Map<TopicPartition, Long> latest = offsets(admin, Map.of(a0, OffsetSpec.latest(), a1, OffsetSpec.latest(), a2, OffsetSpec.latest()),
                "listOffsets latest");
            Check.expectEqual(Map.of(a0, 100L, a1, 100L, a2, 100L), latest, "latest offsets after producing 100 per partition");
            long low = Check.await(admin.deleteRecords(Map.of(a0, RecordsToDelete.beforeOffset(40))).lowWatermarks().get(a0),
                "deleteRecords before 40").lowWatermark();
            Check.expectEqual(40L, low, "low watermark returned by deleteRecords");
            Map<TopicPartition, Long> earliest = offsets(admin, Map.of(a0, OffsetSpec.earliest(), a1, OffsetSpec.earliest()),
                "listOffsets earliest");
            Check.expectEqual(Map.of(a0, 40L, a1, 0L), earliest, "earliest offsets after deleteRecords on partition 0");
            Throwable past = Check.awaitFailure(admin.deleteRecords(Map.of(a1, RecordsToDelete.beforeOffset(1000))).all(),
                "deleteRecords past the end");
            expectFailure(OffsetOutOfRangeException.class, past, "deleteRecords before 1000 of a 100-record partition");
            Check.log("deleteRecords: %s earliest 0 -> 40 (others untouched); past the end: %s", a0, past.getClass().getSimpleName());

            // Consumer groups: a live classic member with committed offsets.
            Properties consumerProps = Check.clientProps(bootstrap, "java-admin-member");
            consumerProps.put("group.id", GROUP);
            consumerProps.put("group.protocol", "classic");
            consumerProps.put("enable.auto.commit", "false");
            consumerProps.put("auto.offset.reset", "earliest");
            consumerProps.put("session.timeout.ms", "10000");
            consumerProps.put("heartbeat.interval.ms", "1000");
            Map<TopicPartition, Long> committed = Map.of(a0, 60L, a1, 70L, a2, 80L);
            try (KafkaConsumer<String, String> member = new KafkaConsumer<>(consumerProps, new StringDeserializer(), new StringDeserializer())) {
                member.subscribe(List.of(TOPIC_A));
                deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (member.assignment().size() < 3) {
                    member.poll(Duration.ofMillis(100));
                    Check.expect(System.nanoTime() < deadline, "the member was not assigned 3 partitions within 30 s: %s", member.assignment());
                }
                member.commitSync(committed.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> new OffsetAndMetadata(e.getValue()))), Check.CALL_TIMEOUT);
                member.poll(Duration.ofMillis(100));

                Collection<ConsumerGroupListing> listed = Check.await(admin.listConsumerGroups().all(), "listConsumerGroups");
                ConsumerGroupListing listing = listed.stream().filter(g -> g.groupId().equals(GROUP)).findFirst().orElse(null);
                Check.expect(listing != null, "listConsumerGroups %s lacks %s", listed, GROUP);
                Check.expect(!listing.isSimpleConsumerGroup(), "%s listed as a simple group", GROUP);
                Check.expectEqual(java.util.Optional.of(GroupState.STABLE), listing.groupState(), "listed state of %s", GROUP);

                ConsumerGroupDescription group = describeGroup(admin);
                Check.expectEqual(GroupState.STABLE, group.groupState(), "described state");
                Check.expectEqual(GroupType.CLASSIC, group.type(), "described group type");
                Check.expectEqual("range", group.partitionAssignor(), "described assignor");
                Check.expectEqual(node.id(), group.coordinator() == null ? null : group.coordinator().id(), "described coordinator");
                Check.expectEqual(1, group.members().size(), "described members (%s)", group.members());
                MemberDescription m = group.members().iterator().next();
                Check.expectEqual("java-admin-member", m.clientId(), "member's client id");
                Check.expectEqual(Set.of(a0, a1, a2), m.assignment().topicPartitions(), "member's assignment");
                Check.expectEqual(committed, groupOffsets(admin), "listConsumerGroupOffsets of the live group");

                Throwable notEmpty = Check.awaitFailure(admin.deleteConsumerGroups(List.of(GROUP)).all(), "deleteConsumerGroups of a live group");
                expectFailure(GroupNotEmptyException.class, notEmpty, "deleteConsumerGroups of a live group");
                // Kafka answers an OffsetCommit without a member id, to a group with members, with UNKNOWN_MEMBER_ID.
                Throwable alterLive = Check.awaitFailure(admin.alterConsumerGroupOffsets(GROUP, Map.of(a0, new OffsetAndMetadata(1))).all(),
                    "alterConsumerGroupOffsets of a live group");
                expectFailure(UnknownMemberIdException.class, alterLive, "alterConsumerGroupOffsets of a live group");
                Check.expectEqual(committed, groupOffsets(admin), "offsets after a refused alterConsumerGroupOffsets");
                Check.log("live group: listed and described STABLE, 1 member with 3 partitions, offsets %s; delete refused (%s), alter refused (%s)",
                    committed, notEmpty.getClass().getSimpleName(), alterLive.getClass().getSimpleName());
                member.close(Check.CALL_TIMEOUT);
            }

            // The empty group: describe, alter offsets, delete.
            ConsumerGroupDescription empty = describeGroup(admin);
            Check.expectEqual(GroupState.EMPTY, empty.groupState(), "state after the member closed");
            Check.expectEqual(0, empty.members().size(), "members after the member closed");
            Check.await(admin.alterConsumerGroupOffsets(GROUP, Map.of(a0, new OffsetAndMetadata(45), a1, new OffsetAndMetadata(10))).all(),
                "alterConsumerGroupOffsets");
            Check.expectEqual(Map.of(a0, 45L, a1, 10L, a2, 80L), groupOffsets(admin), "offsets after alterConsumerGroupOffsets");
            Check.await(admin.deleteConsumerGroups(List.of(GROUP)).all(), "deleteConsumerGroups");
            Collection<ConsumerGroupListing> afterDelete = Check.await(admin.listConsumerGroups().all(), "listConsumerGroups after delete");
            Check.expect(afterDelete.stream().noneMatch(g -> g.groupId().equals(GROUP)), "%s still listed after delete: %s", GROUP, afterDelete);
            String gone;
            try {
                ConsumerGroupDescription dead = admin.describeConsumerGroups(List.of(GROUP)).all()
                    .get(Check.CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(GROUP);
                Check.expectEqual(GroupState.DEAD, dead.groupState(), "state of a deleted group");
                gone = "DEAD";
            } catch (java.util.concurrent.ExecutionException e) {
                expectFailure(GroupIdNotFoundException.class, e.getCause(), "describeConsumerGroups of a deleted group");
                gone = "GroupIdNotFound";
            }
            Check.expectEqual(Map.of(), groupOffsets(admin), "offsets of a deleted group");
            Check.log("empty group: EMPTY, offsets altered to 45/10/80, deleted (then %s, no offsets)", gone);

            // deleteTopics
            Check.await(admin.deleteTopics(List.of(TOPIC_B)).all(), "deleteTopics " + TOPIC_B);
            deadline = System.nanoTime() + Check.CALL_TIMEOUT.toNanos();
            while (Check.await(admin.listTopics().names(), "listTopics").contains(TOPIC_B)) {
                Check.expect(System.nanoTime() < deadline, "%s still listed %d s after deleteTopics", TOPIC_B, Check.CALL_TIMEOUT.toSeconds());
                Thread.sleep(100);
            }
            Throwable unknown = Check.awaitFailure(admin.describeTopics(List.of(TOPIC_B)).allTopicNames(), "describeTopics of a deleted topic");
            expectFailure(UnknownTopicOrPartitionException.class, unknown, "describeTopics of a deleted topic");
            Check.expect(Check.await(admin.listTopics().names(), "listTopics").contains(TOPIC_A), "%s vanished with %s", TOPIC_A, TOPIC_B);
            Check.log("deleteTopics: %s gone from listTopics and describeTopics (%s)", TOPIC_B, unknown.getClass().getSimpleName());
        }
    }
}
