// sarama drives IBM/sarama at a chosen protocol level (-version, e.g. 3.6.0, 2.1.0, 0.10.2.0)
// through one step (-step):
//
//	admin    ClusterAdmin: create a topic with a config, describe and list it, describe its
//	         config, describe the cluster, delete it.
//	produce  SyncProducer (idempotent with acks=all from 0.11 on) writes -messages keyed messages
//	         (with headers from 0.11 on) to an auto-created topic; partition consumers read each
//	         partition back from the oldest offset and every message must be at the offset the
//	         producer was told, with the same content, in order.
//	group    -messages produced, a ConsumerGroup reads them all and commits; the committed offsets
//	         are checked through ClusterAdmin (list groups, offsets); then a fifth more are
//	         produced and a new ConsumerGroup client resumes at the committed offsets and reads
//	         exactly those.
//	commit   an OffsetManager at -version (OffsetCommit v1 at 0.8.2, v2 at 0.9-0.10, ...) commits
//	         an offset per partition of a topic written at 3.6; a second OffsetManager at
//	         -version (OffsetFetch) and a ClusterAdmin at 3.6 both read them back.
//
// -produce-version writes at another level than -version reads at (e.g. written at 3.6.0, read
// and grouped at 0.10.2.0), so the old read path is checked apart from the old write path.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	c "strata.local/compat/go/internal/compat"
)

var (
	versionFlag = flag.String("version", "3.6.0", "sarama Config.Version (3.6.0, 2.1.0, 0.10.2.0, ...)")
	step        = flag.String("step", "produce", "admin, produce, group or commit")
	messages    = flag.Int("messages", 5000, "messages to produce")
	codecFlag   = flag.String("codec", "none", "producer compression: none, gzip, snappy, lz4, zstd")
	idempotent  = flag.Bool("idempotent", true, "idempotent producer (needs version >= 0.11)")
	prodFlag    = flag.String("produce-version", "", "Config.Version of the producers (default: -version), so reading at an old level can be checked apart from writing at it")
)

var version, produceVersion sarama.KafkaVersion

func main() {
	bootstrap, ctx := c.Setup("sarama")
	var err error
	version, err = sarama.ParseKafkaVersion(*versionFlag)
	c.Must(err, "-version %s", *versionFlag)
	produceVersion = version
	if *prodFlag != "" {
		produceVersion, err = sarama.ParseKafkaVersion(*prodFlag)
		c.Must(err, "-produce-version %s", *prodFlag)
	}
	name := fmt.Sprintf("sarama-%s-%s", *step, sanitize(*versionFlag))
	if produceVersion != version {
		name += "-from-" + sanitize(*prodFlag)
	}
	switch *step {
	case "admin":
		admin(bootstrap, name)
	case "produce":
		topic := name + "-" + *codecFlag
		placed := produce(bootstrap, topic, 0, *messages)
		readBack(ctx, bootstrap, topic, placed)
	case "group":
		group(ctx, bootstrap, name)
	case "commit":
		commit(bootstrap, name)
	default:
		c.Failf("unknown -step %s", *step)
	}
	c.Logf("sarama %s at %s: all checks passed", *step, version)
}

func sanitize(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("."), []byte("_"))) }

func config() *sarama.Config { return configAt(version) }

func configAt(version sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "strata-compat-sarama"
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 5
	cfg.Metadata.Retry.Backoff = 300 * time.Millisecond
	cfg.Metadata.AllowAutoTopicCreation = true
	cfg.Admin.Timeout = 10 * time.Second
	cfg.Admin.Retry.Max = 3
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Producer.Retry.Max = 5
	if *idempotent && version.IsAtLeast(sarama.V0_11_0_0) {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	switch *codecFlag {
	case "none":
		cfg.Producer.Compression = sarama.CompressionNone
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	default:
		c.Failf("unknown -codec %s", *codecFlag)
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 300 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	cfg.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	c.Must(cfg.Validate(), "sarama config")
	return cfg
}

func admin(bootstrap, topic string) {
	adm, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	c.Must(err, "NewClusterAdmin")
	defer adm.Close()
	retention := "86400000"
	c.Must(adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}, false), "CreateTopic %s", topic)
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	if err == nil {
		c.Failf("CreateTopic %s twice succeeded; want TOPIC_ALREADY_EXISTS", topic)
	}
	c.Logf("created %s; second create: %v", topic, err)

	waitFor("topic "+topic+" in DescribeTopics with 3 partitions", func() (bool, string) {
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			return false, err.Error()
		}
		if len(md) != 1 || md[0].Err != sarama.ErrNoError {
			return false, fmt.Sprintf("%d topics, err %v", len(md), md[0].Err)
		}
		for _, p := range md[0].Partitions {
			if p.Err != sarama.ErrNoError || p.Leader < 0 {
				return false, fmt.Sprintf("partition %d leader %d err %v", p.ID, p.Leader, p.Err)
			}
		}
		return len(md[0].Partitions) == 3, fmt.Sprintf("%d partitions", len(md[0].Partitions))
	})
	// Sarama lists topics and describes configs with DescribeConfigs, which came with Kafka 0.11:
	// below that level it refuses them itself, whatever the broker.
	describes := version.IsAtLeast(sarama.V0_11_0_0)
	entries := []sarama.ConfigEntry{}
	if describes {
		topics, err := adm.ListTopics()
		c.Must(err, "ListTopics")
		if d, ok := topics[topic]; !ok || d.NumPartitions != 3 || d.ReplicationFactor != 1 {
			c.Failf("ListTopics: %s present %v with %+v; want 3 partitions, replication 1", topic, ok, d)
		}
		entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
		c.Must(err, "DescribeConfig %s", topic)
		found := false
		for _, e := range entries {
			if e.Name == "retention.ms" {
				found = true
				if e.Value != retention || e.Default {
					c.Failf("retention.ms = %q (default %v, source %v), want %q set on the topic", e.Value, e.Default, e.Source, retention)
				}
			}
		}
		if !found || len(entries) < 10 {
			c.Failf("DescribeConfig %s: %d entries, retention.ms present %v", topic, len(entries), found)
		}
	}
	brokers, controller, err := adm.DescribeCluster()
	c.Must(err, "DescribeCluster")
	if len(brokers) != 1 || brokers[0].ID() != controller || brokers[0].Addr() != bootstrap {
		addrs := []string{}
		for _, b := range brokers {
			addrs = append(addrs, fmt.Sprintf("%d@%s", b.ID(), b.Addr()))
		}
		c.Failf("DescribeCluster: brokers %v controller %d; want one broker at %s that is the controller", addrs, controller, bootstrap)
	}
	c.Logf("described %s (%d config entries), cluster with broker %d", topic, len(entries), controller)
	c.Must(adm.DeleteTopic(topic), "DeleteTopic %s", topic)
	if !describes {
		// Metadata below v4 auto-creates the topics it names, so only the delete itself is checked.
		return
	}
	waitFor("topic "+topic+" to disappear from ListTopics", func() (bool, string) {
		topics, err := adm.ListTopics()
		if err != nil {
			return false, err.Error()
		}
		_, ok := topics[topic]
		return !ok, fmt.Sprint(len(topics), " topics")
	})
	if err := adm.DeleteTopic(topic); err == nil {
		c.Failf("DeleteTopic %s twice succeeded; want UNKNOWN_TOPIC_OR_PARTITION", topic)
	}
}

type placed struct {
	index     int
	partition int32
	offset    int64
}

func message(topic string, i int) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(c.Key(i)), Value: sarama.StringEncoder(c.Value(i)), Metadata: i}
	if produceVersion.IsAtLeast(sarama.V0_11_0_0) {
		m.Headers = []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(c.HeaderValue(i))}}
	}
	return m
}

// produce sends messages first..first+n-1 with a SyncProducer, 500 per SendMessages call.
func produce(bootstrap, topic string, first, n int) map[[2]int64]int {
	p, err := sarama.NewSyncProducer([]string{bootstrap}, configAt(produceVersion))
	c.Must(err, "NewSyncProducer")
	defer p.Close()
	out := map[[2]int64]int{}
	for start := first; start < first+n; start += 500 {
		var batch []*sarama.ProducerMessage
		for i := start; i < min(start+500, first+n); i++ {
			batch = append(batch, message(topic, i))
		}
		if err := p.SendMessages(batch); err != nil {
			if pe, ok := err.(sarama.ProducerErrors); ok && len(pe) > 0 {
				c.Failf("SendMessages to %s: %d failed, first: %v", topic, len(pe), pe[0].Err)
			}
			c.Failf("SendMessages to %s: %v", topic, err)
		}
		for _, m := range batch {
			key := [2]int64{int64(m.Partition), m.Offset}
			if prev, dup := out[key]; dup {
				c.Failf("messages %d and %d both acknowledged at %d@%d", prev, m.Metadata, m.Partition, m.Offset)
			}
			out[key] = m.Metadata.(int)
		}
	}
	c.Logf("produced %d messages to %s at %s", n, topic, produceVersion)
	return out
}

func checkMessage(m *sarama.ConsumerMessage, placed map[[2]int64]int) (int, error) {
	i, ok := placed[[2]int64{int64(m.Partition), m.Offset}]
	if !ok {
		return 0, fmt.Errorf("%s %d@%d: no message was acknowledged there (key %q)", m.Topic, m.Partition, m.Offset, m.Key)
	}
	if string(m.Key) != c.Key(i) || string(m.Value) != c.Value(i) {
		return 0, fmt.Errorf("%s %d@%d: key %q value %d bytes, want message %d", m.Topic, m.Partition, m.Offset, m.Key, len(m.Value), i)
	}
	if version.IsAtLeast(sarama.V0_11_0_0) && produceVersion.IsAtLeast(sarama.V0_11_0_0) {
		if len(m.Headers) != 1 || string(m.Headers[0].Key) != "h" || string(m.Headers[0].Value) != c.HeaderValue(i) {
			return 0, fmt.Errorf("%s %d@%d: headers %v", m.Topic, m.Partition, m.Offset, m.Headers)
		}
	}
	if m.Timestamp.IsZero() && version.IsAtLeast(sarama.V0_10_0_0) {
		return 0, fmt.Errorf("%s %d@%d: no timestamp", m.Topic, m.Partition, m.Offset)
	}
	return i, nil
}

// readBack reads every partition from the oldest offset with partition consumers.
func readBack(ctx context.Context, bootstrap, topic string, placed map[[2]int64]int) {
	cfg := config()
	client, err := sarama.NewClient([]string{bootstrap}, cfg)
	c.Must(err, "NewClient")
	defer client.Close()
	parts, err := client.Partitions(topic)
	c.Must(err, "Partitions %s", topic)
	perPartition := map[int32]int64{}
	for k := range placed {
		perPartition[int32(k[0])]++
	}
	for _, p := range parts {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		c.Must(err, "ListOffsets oldest %s-%d", topic, p)
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		c.Must(err, "ListOffsets newest %s-%d", topic, p)
		if oldest != 0 || newest != perPartition[p] {
			c.Failf("%s-%d: offsets %d..%d, want 0..%d", topic, p, oldest, newest, perPartition[p])
		}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	c.Must(err, "NewConsumer")
	defer consumer.Close()
	for _, p := range parts {
		want := perPartition[p]
		if want == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		c.Must(err, "ConsumePartition %s-%d", topic, p)
		next, last := int64(0), -1
		for next < want {
			select {
			case m := <-pc.Messages():
				if m.Offset != next {
					c.Failf("%s-%d: read offset %d, want %d", topic, p, m.Offset, next)
				}
				i, err := checkMessage(m, placed)
				c.Must(err, "read back")
				if i <= last {
					c.Failf("%s-%d@%d: message %d after %d (out of produce order)", topic, p, m.Offset, i, last)
				}
				last = i
				next++
			case err := <-pc.Errors():
				c.Failf("consume %s-%d: %v", topic, p, err)
			case <-ctx.Done():
				c.Failf("%s-%d: read %d of %d before the time limit", topic, p, next, want)
			}
		}
		pc.Close()
	}
	c.Logf("read back %d messages from %d partitions of %s", len(placed), len(parts), topic)
}

// handler records what a ConsumerGroup reads and marks every message.
type handler struct {
	mu       sync.Mutex
	placed   map[[2]int64]int
	read     map[[2]int64]bool
	next     map[int32]int64 // partition -> first offset this handler must read next (-1: unknown)
	problems []string
	want     int
	done     chan struct{}
	once     sync.Once
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.mu.Lock()
			key := [2]int64{int64(m.Partition), m.Offset}
			if _, err := checkMessage(m, h.placed); err != nil {
				h.problems = append(h.problems, err.Error())
			}
			if h.read[key] {
				h.problems = append(h.problems, fmt.Sprintf("re-read %d@%d", m.Partition, m.Offset))
			}
			if n, ok := h.next[m.Partition]; ok && m.Offset != n {
				h.problems = append(h.problems, fmt.Sprintf("partition %d: read offset %d, want %d", m.Partition, m.Offset, n))
			}
			h.next[m.Partition] = m.Offset + 1
			h.read[key] = true
			if len(h.read) >= h.want {
				h.once.Do(func() { close(h.done) })
			}
			h.mu.Unlock()
			sess.MarkMessage(m, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}

// consumeGroup runs one ConsumerGroup client until it has read h.want messages, then closes it
// (which commits the marked offsets).
func consumeGroup(ctx context.Context, bootstrap, groupID, topic string, h *handler) {
	cg, err := sarama.NewConsumerGroup([]string{bootstrap}, groupID, config())
	c.Must(err, "NewConsumerGroup")
	gctx, cancel := context.WithCancel(ctx)
	errs := make(chan error, 1)
	go func() {
		for gctx.Err() == nil {
			if err := cg.Consume(gctx, []string{topic}, h); err != nil && gctx.Err() == nil {
				errs <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
	case err := <-errs:
		c.Failf("ConsumerGroup.Consume: %v", err)
	case err := <-cg.Errors():
		c.Failf("ConsumerGroup error: %v", err)
	case <-ctx.Done():
		h.mu.Lock()
		c.Failf("group %s read %d of %d before the time limit", groupID, len(h.read), h.want)
	}
	time.Sleep(time.Second) // extra or repeated messages would arrive here
	cancel()
	c.Must(cg.Close(), "ConsumerGroup.Close")
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) > 0 {
		c.Failf("group %s: %d problems, first: %v", groupID, len(h.problems), h.problems[:min(5, len(h.problems))])
	}
	if len(h.read) != h.want {
		c.Failf("group %s read %d messages, want %d", groupID, len(h.read), h.want)
	}
}

func group(ctx context.Context, bootstrap, name string) {
	topic, groupID := name, name+"-g"
	placed := produce(bootstrap, topic, 0, *messages)
	h := &handler{placed: placed, read: map[[2]int64]bool{}, next: map[int32]int64{}, want: len(placed), done: make(chan struct{})}
	for p := int32(0); p < 64; p++ {
		h.next[p] = 0 // the group has no offsets yet: each partition from its start
	}
	consumeGroup(ctx, bootstrap, groupID, topic, h)
	c.Logf("group %s read all %d messages", groupID, len(placed))

	end := map[int32]int64{}
	for k := range placed {
		end[int32(k[0])] = max(end[int32(k[0])], k[1]+1)
	}
	adm, err := sarama.NewClusterAdmin([]string{bootstrap}, config())
	c.Must(err, "NewClusterAdmin")
	defer adm.Close()
	checkCommitted(adm, groupID, topic, end)
	groups, err := adm.ListConsumerGroups()
	c.Must(err, "ListConsumerGroups")
	if pt, ok := groups[groupID]; !ok || pt != "consumer" {
		c.Failf("ListConsumerGroups: %s present %v protocol type %q; all: %v", groupID, ok, pt, groups)
	}
	desc, err := adm.DescribeConsumerGroups([]string{groupID})
	c.Must(err, "DescribeConsumerGroups")
	if len(desc) != 1 || desc[0].State != "Empty" || len(desc[0].Members) != 0 {
		c.Failf("DescribeConsumerGroups %s: %+v, want Empty without members", groupID, desc)
	}

	// A new client of the same group resumes at the committed offsets.
	more := *messages / 5
	placed2 := produce(bootstrap, topic, *messages, more)
	for k, v := range placed {
		placed2[k] = v
	}
	h2 := &handler{placed: placed2, read: map[[2]int64]bool{}, next: map[int32]int64{}, want: more, done: make(chan struct{})}
	for p, o := range end {
		h2.next[p] = o
	}
	consumeGroup(ctx, bootstrap, groupID, topic, h2)
	for k := range placed2 {
		end[int32(k[0])] = max(end[int32(k[0])], k[1]+1)
	}
	checkCommitted(adm, groupID, topic, end)
	c.Logf("a new group client resumed at the committed offsets and read exactly the %d new messages", more)
}

func checkCommitted(adm sarama.ClusterAdmin, groupID, topic string, end map[int32]int64) {
	parts := []int32{}
	for p := range end {
		parts = append(parts, p)
	}
	resp, err := adm.ListConsumerGroupOffsets(groupID, map[string][]int32{topic: parts})
	c.Must(err, "ListConsumerGroupOffsets")
	for p, want := range end {
		b := resp.GetBlock(topic, p)
		if b == nil || b.Err != sarama.ErrNoError || b.Offset != want {
			c.Failf("committed offset of %s-%d: %+v, want %d", topic, p, b, want)
		}
	}
}

func waitFor(what string, cond func() (bool, string)) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, s := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.Failf("waited 15 s for %s; last state: %s", what, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func commit(bootstrap, name string) {
	topic, groupID := name, name+"-g"
	if produceVersion == version && !version.IsAtLeast(sarama.V0_11_0_0) {
		produceVersion = sarama.V3_6_0_0 // the topic is written at a modern level; only the commits are old
	}
	placed := produce(bootstrap, topic, 0, 200)
	end := map[int32]int64{}
	for k := range placed {
		end[int32(k[0])] = max(end[int32(k[0])], k[1]+1)
	}
	want := map[int32]int64{}
	for p, e := range end {
		want[p] = e/2 + int64(p)
	}
	client, err := sarama.NewClient([]string{bootstrap}, config())
	c.Must(err, "NewClient at %s", version)
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(groupID, client)
	c.Must(err, "NewOffsetManager at %s", version)
	for p, o := range want {
		pom, err := om.ManagePartition(topic, p)
		c.Must(err, "ManagePartition %s-%d", topic, p)
		if next, _ := pom.NextOffset(); next != sarama.OffsetOldest && next != sarama.OffsetNewest {
			c.Failf("%s-%d: a new group already has offset %d", topic, p, next)
		}
		pom.MarkOffset(o, fmt.Sprintf("meta-%d", p))
		om.Commit()
		select {
		case err := <-pom.Errors():
			c.Failf("commit %s-%d at %s: %v", topic, p, version, err)
		default:
		}
		c.Must(pom.Close(), "close PartitionOffsetManager %s-%d", topic, p)
	}
	c.Must(om.Close(), "close OffsetManager")

	om2, err := sarama.NewOffsetManagerFromClient(groupID, client)
	c.Must(err, "second NewOffsetManager")
	for p, o := range want {
		pom, err := om2.ManagePartition(topic, p)
		c.Must(err, "ManagePartition %s-%d (fetch)", topic, p)
		next, meta := pom.NextOffset()
		if next != o || meta != fmt.Sprintf("meta-%d", p) {
			c.Failf("%s-%d: OffsetFetch at %s gave %d %q, want %d %q", topic, p, version, next, meta, o, fmt.Sprintf("meta-%d", p))
		}
		pom.AsyncClose()
	}
	om2.Close()
	adm, err := sarama.NewClusterAdmin([]string{bootstrap}, configAt(sarama.V3_6_0_0))
	c.Must(err, "NewClusterAdmin at 3.6")
	defer adm.Close()
	checkCommitted(adm, groupID, topic, want)
	c.Logf("offsets committed and fetched at %s: %v", version, want)
}
