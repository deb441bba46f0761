// franz-produce writes 10,000 keyed records with headers under each codec with franz-go's
// default idempotent producer and acks=all, then reads them back and checks content, per
// partition order and that every record sits at the offset the producer was told.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	c "strata.local/compat/go/internal/compat"
)

var count = flag.Int("records", 10000, "records per codec")

type placed struct {
	index     int
	partition int32
	offset    int64
}

func main() {
	bootstrap, ctx := c.Setup("franz-produce")
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	c.Must(err, "new admin client")
	adm := kadm.NewClient(admCl)
	for _, cd := range codecs {
		topic := "franz-codec-" + cd.name
		res, err := adm.CreateTopics(ctx, 3, 1, nil, topic)
		c.Must(err, "CreateTopics %s", topic)
		c.Must(res.Error(), "CreateTopics %s result", topic)
		placedRecords := produce(ctx, bootstrap, topic, cd.codec)
		consume(ctx, bootstrap, topic, placedRecords)
		c.Logf("%s: %d records produced and read back exactly", cd.name, *count)
	}
	admCl.Close()
	c.Logf("franz-produce: all checks passed")
}

func record(topic string, i int) *kgo.Record {
	return &kgo.Record{
		Topic: topic,
		Key:   []byte(c.Key(i)),
		Value: []byte(c.Value(i)),
		Headers: []kgo.RecordHeader{
			{Key: "index", Value: []byte(fmt.Sprint(i))},
			{Key: "h", Value: []byte(c.HeaderValue(i))},
		},
	}
}

func produce(ctx context.Context, bootstrap, topic string, codec kgo.CompressionCodec) []placed {
	// Idempotence is franz-go's default and implies acks=all; both are stated anyway.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProduceRequestTimeout(20*time.Second), kgo.RecordDeliveryTimeout(60*time.Second))
	c.Must(err, "new producer")
	defer cl.Close()
	out := make([]placed, *count)
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < *count; i++ {
		i := i
		cl.Produce(ctx, record(topic, i), func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("record %d: %w", i, err)
			}
			out[i] = placed{i, r.Partition, r.Offset}
		})
	}
	c.Must(cl.Flush(ctx), "flush %s", topic)
	c.Must(firstErr, "produce to %s", topic)
	// The idempotent producer got a producer ID from InitProducerId before its first batch.
	if id, epoch, err := cl.ProducerID(ctx); err != nil || id < 0 || epoch < 0 {
		c.Failf("%s: producer ID %d epoch %d (%v): the producer did not run idempotently", topic, id, epoch, err)
	}
	return out
}

func consume(ctx context.Context, bootstrap, topic string, want []placed) {
	byPos := map[[2]int64]int{}
	perPartition := map[int32]int64{}
	for _, p := range want {
		byPos[[2]int64{int64(p.partition), p.offset}] = p.index
		perPartition[p.partition]++
	}
	if len(perPartition) != 3 {
		c.Failf("%s: records went to %d partitions, want 3 (keys spread by hash)", topic, len(perPartition))
	}
	// The producer's offsets must be dense from 0 per partition: each record written once.
	for _, p := range want {
		if p.offset < 0 || p.offset >= perPartition[p.partition] {
			c.Failf("%s: record %d acknowledged at %d-%d, outside 0..%d", topic, p.index, p.partition, p.offset, perPartition[p.partition]-1)
		}
	}
	if len(byPos) != len(want) {
		c.Failf("%s: %d records acknowledged at only %d distinct offsets", topic, len(want), len(byPos))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	c.Must(err, "new consumer")
	defer cl.Close()
	next := map[int32]int64{}
	lastIndex := map[int32]int{}
	got := 0
	for got < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.Failf("%s: read %d of %d records before the time limit", topic, got, len(want))
		}
		fs.EachError(func(t string, p int32, err error) { c.Failf("fetch %s-%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				c.Failf("%s-%d: read offset %d, want %d", topic, r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			i, ok := byPos[[2]int64{int64(r.Partition), r.Offset}]
			if !ok {
				c.Failf("%s-%d@%d: no record was acknowledged here (key %q)", topic, r.Partition, r.Offset, r.Key)
			}
			if li, seen := lastIndex[r.Partition]; seen && i <= li {
				c.Failf("%s-%d@%d: record %d after record %d (out of produce order)", topic, r.Partition, r.Offset, i, li)
			}
			lastIndex[r.Partition] = i
			w := record(topic, i)
			if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) {
				c.Failf("%s-%d@%d: key %q value %d bytes, want record %d (%q, %d bytes)", topic, r.Partition, r.Offset, r.Key, len(r.Value), i, w.Key, len(w.Value))
			}
			if len(r.Headers) != len(w.Headers) {
				c.Failf("%s-%d@%d: %d headers, want %d", topic, r.Partition, r.Offset, len(r.Headers), len(w.Headers))
			}
			for h := range w.Headers {
				if r.Headers[h].Key != w.Headers[h].Key || !bytes.Equal(r.Headers[h].Value, w.Headers[h].Value) {
					c.Failf("%s-%d@%d: header %d is %s=%q, want %s=%q", topic, r.Partition, r.Offset, h, r.Headers[h].Key, r.Headers[h].Value, w.Headers[h].Key, w.Headers[h].Value)
				}
			}
			if r.Timestamp.IsZero() || time.Since(r.Timestamp) > 10*time.Minute {
				c.Failf("%s-%d@%d: timestamp %v", topic, r.Partition, r.Offset, r.Timestamp)
			}
			got++
		})
	}
	// Nothing beyond: one more short poll returns no records.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if extra := cl.PollFetches(short).NumRecords(); extra != 0 {
		c.Failf("%s: %d records beyond the %d produced", topic, extra, len(want))
	}
}
