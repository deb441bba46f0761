// kafkago drives segmentio/kafka-go: topics created through Client.CreateTopics and through
// Conn.CreateTopics on the controller connection; a Writer (with -codec) writes -messages keyed
// messages with headers; a group Reader (GroupID) reads them all, committing as it goes; the
// committed offsets equal the end offsets; a second Reader of the same group, after more
// messages, reads exactly the new ones.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	c "strata.local/compat/go/internal/compat"
)

var (
	messages  = flag.Int("messages", 5000, "messages to write")
	codecFlag = flag.String("codec", "snappy", "Writer compression: none, gzip, snappy, lz4, zstd")
)

func main() {
	bootstrap, ctx := c.Setup("kafkago")
	topic := "kafkago-" + *codecFlag
	groupID := topic + "-g"
	client := &kafka.Client{Addr: kafka.TCP(bootstrap), Timeout: 15 * time.Second}

	// Client.CreateTopics: the data topic (3 partitions, a config) and a second one.
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "86400000"}}},
		{Topic: topic + "-client", NumPartitions: 2, ReplicationFactor: 1},
	}})
	c.Must(err, "Client.CreateTopics")
	for name, err := range resp.Errors {
		c.Must(err, "Client.CreateTopics %s", name)
	}
	resp, err = client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}}})
	c.Must(err, "Client.CreateTopics again")
	if !errors.Is(resp.Errors[topic], kafka.TopicAlreadyExists) {
		c.Failf("creating %s again: %v, want TOPIC_ALREADY_EXISTS", topic, resp.Errors[topic])
	}
	// Conn.CreateTopics goes to the controller.
	conn, err := kafka.DialContext(ctx, "tcp", bootstrap)
	c.Must(err, "Dial")
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	controller, err := conn.Controller()
	c.Must(err, "Conn.Controller")
	cconn, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	c.Must(err, "Dial controller %s:%d", controller.Host, controller.Port)
	cconn.SetDeadline(time.Now().Add(30 * time.Second))
	c.Must(cconn.CreateTopics(kafka.TopicConfig{Topic: topic + "-conn", NumPartitions: 4, ReplicationFactor: 1}), "Conn.CreateTopics")
	cconn.Close()
	for name, want := range map[string]int{topic: 3, topic + "-client": 2, topic + "-conn": 4} {
		waitFor("partitions of "+name, func() (bool, string) {
			parts, err := conn.ReadPartitions(name)
			if err != nil {
				return false, err.Error()
			}
			return len(parts) == want, fmt.Sprintf("%d partitions, want %d", len(parts), want)
		})
	}
	conn.Close()
	c.Logf("created %s (Client), %s-client (Client), %s-conn (Conn, controller %d)", topic, topic, topic, controller.ID)

	write(ctx, bootstrap, topic, 0, *messages)
	next := read(ctx, bootstrap, topic, groupID, map[int]int64{0: 0, 1: 0, 2: 0}, *messages)
	checkCommitted(ctx, client, topic, groupID, next)
	c.Logf("group reader read %d messages and committed the end offsets %v", *messages, next)

	more := *messages / 5
	write(ctx, bootstrap, topic, *messages, more)
	next = read(ctx, bootstrap, topic, groupID, next, more)
	checkCommitted(ctx, client, topic, groupID, next)
	c.Logf("a second group reader resumed at the committed offsets and read exactly the %d new messages", more)
	c.Logf("kafkago: all checks passed")
}

func write(ctx context.Context, bootstrap, topic string, first, n int) {
	codecs := map[string]kafka.Compression{"none": 0, "gzip": compress.Gzip, "snappy": compress.Snappy, "lz4": compress.Lz4, "zstd": compress.Zstd}
	codec, ok := codecs[*codecFlag]
	if !ok {
		c.Failf("unknown -codec %s", *codecFlag)
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(bootstrap), Topic: topic, Balancer: &kafka.Hash{}, Compression: codec,
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 500,
		ReadTimeout: 15 * time.Second, WriteTimeout: 15 * time.Second, MaxAttempts: 5,
	}
	defer w.Close()
	msgs := make([]kafka.Message, 0, n)
	for i := first; i < first+n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(c.Key(i)), Value: []byte(c.Value(i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte(c.HeaderValue(i))}}})
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c.Must(w.WriteMessages(wctx, msgs...), "Writer.WriteMessages %d messages to %s", n, topic)
	if st := w.Stats(); st.Messages != int64(n) || st.Errors != 0 {
		c.Failf("Writer stats: %d messages, %d errors; want %d and 0", st.Messages, st.Errors, n)
	}
}

// read runs a group Reader until it has read n messages, checking that each partition
// continues at next[p] without gaps; it returns the offsets after the last message read.
func read(ctx context.Context, bootstrap, topic, groupID string, next map[int]int64, n int) map[int]int64 {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{bootstrap}, GroupID: groupID, Topic: topic,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 300 * time.Millisecond,
		CommitInterval: 0, // synchronous commit inside ReadMessage
		StartOffset:    kafka.FirstOffset, HeartbeatInterval: time.Second,
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 300 * time.Millisecond,
		MaxAttempts: 3,
	})
	defer r.Close()
	out := map[int]int64{}
	for p, o := range next {
		out[p] = o
	}
	last := map[int]int{}
	for got := 0; got < n; got++ {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := r.ReadMessage(rctx)
		cancel()
		c.Must(err, "Reader.ReadMessage after %d of %d", got, n)
		if m.Offset != out[m.Partition] {
			c.Failf("%s-%d: read offset %d, want %d", topic, m.Partition, m.Offset, out[m.Partition])
		}
		out[m.Partition]++
		i, ok := c.Index(m.Key)
		if !ok || string(m.Value) != c.Value(i) {
			c.Failf("%s-%d@%d: key %q value %d bytes", topic, m.Partition, m.Offset, m.Key, len(m.Value))
		}
		if len(m.Headers) != 1 || m.Headers[0].Key != "h" || string(m.Headers[0].Value) != c.HeaderValue(i) {
			c.Failf("%s-%d@%d: headers %v", topic, m.Partition, m.Offset, m.Headers)
		}
		if l, ok := last[m.Partition]; ok && i <= l {
			c.Failf("%s-%d@%d: message %d after %d (out of write order)", topic, m.Partition, m.Offset, i, l)
		}
		last[m.Partition] = i
	}
	// Nothing more: a further read times out.
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if m, err := r.ReadMessage(rctx); err == nil {
		c.Failf("read an extra message %d@%d key %q", m.Partition, m.Offset, m.Key)
	}
	return out
}

func checkCommitted(ctx context.Context, client *kafka.Client, topic, groupID string, want map[int]int64) {
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	c.Must(err, "ListOffsets")
	for _, po := range lo.Topics[topic] {
		c.Must(po.Error, "ListOffsets %s-%d", topic, po.Partition)
		if po.LastOffset != want[po.Partition] {
			c.Failf("%s-%d: end offset %d, but the reader ended at %d", topic, po.Partition, po.LastOffset, want[po.Partition])
		}
	}
	of, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{topic: {0, 1, 2}}})
	c.Must(err, "OffsetFetch")
	c.Must(of.Error, "OffsetFetch result")
	if len(of.Topics[topic]) != 3 {
		c.Failf("OffsetFetch: %d partitions of %s, want 3", len(of.Topics[topic]), topic)
	}
	for _, p := range of.Topics[topic] {
		if p.Error != nil || p.CommittedOffset != want[p.Partition] {
			c.Failf("committed offset of %s-%d: %d (%v), want %d", topic, p.Partition, p.CommittedOffset, p.Error, want[p.Partition])
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
