// franz-admin drives franz-go's kadm admin client through topics, partitions, configs, records,
// groups and the cluster, checking every answer.
package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	c "strata.local/compat/go/internal/compat"
)

const (
	topicA = "franz-admin-a"
	topicB = "franz-admin-b"
)

func main() {
	bootstrap, ctx := c.Setup("franz-admin")
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RequestTimeoutOverhead(10*time.Second),
		kgo.RetryTimeout(20*time.Second))
	c.Must(err, "new client")
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// Topics: one with 3 partitions and configs, one with defaults.
	created, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{
		"retention.ms":   kadm.StringPtr("3600000"),
		"cleanup.policy": kadm.StringPtr("compact"),
	}, topicA)
	c.Must(err, "CreateTopics %s", topicA)
	c.Must(created.Error(), "CreateTopics %s result", topicA)
	_, err = adm.CreateTopic(ctx, 1, 1, nil, topicB)
	c.Must(err, "CreateTopic %s", topicB)
	again, err := adm.CreateTopics(ctx, 1, 1, nil, topicB)
	c.Must(err, "CreateTopics %s again", topicB)
	if again.Error() == nil {
		c.Failf("creating %s a second time succeeded; want TOPIC_ALREADY_EXISTS", topicB)
	}
	c.Logf("created %s and %s; second create said %v", topicA, topicB, again.Error())

	waitPartitions(ctx, adm, topicA, 3)
	waitPartitions(ctx, adm, topicB, 1)
	md, err := adm.Metadata(ctx, topicA)
	c.Must(err, "Metadata %s", topicA)
	for p, pd := range md.Topics[topicA].Partitions {
		if pd.Err != nil || pd.Leader < 0 || len(pd.Replicas) != 1 {
			c.Failf("partition %d of %s: leader %d replicas %v err %v", p, topicA, pd.Leader, pd.Replicas, pd.Err)
		}
	}

	// Partitions: 3 -> 5.
	cp, err := adm.CreatePartitions(ctx, 2, topicA)
	c.Must(err, "CreatePartitions %s +2", topicA)
	c.Must(cp.Error(), "CreatePartitions %s +2 result", topicA)
	waitPartitions(ctx, adm, topicA, 5)
	c.Logf("%s now has 5 partitions", topicA)

	// Configs: described as created, then altered incrementally.
	expectConfig(ctx, adm, topicA, "retention.ms", "3600000", true)
	expectConfig(ctx, adm, topicA, "cleanup.policy", "compact", true)
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2000000")},
		{Op: kadm.DeleteConfig, Name: "cleanup.policy"},
	}, topicA)
	c.Must(err, "IncrementalAlterConfigs %s", topicA)
	for _, r := range alter {
		c.Must(r.Err, "IncrementalAlterConfigs %s result (%s)", r.Name, r.ErrMessage)
	}
	expectConfig(ctx, adm, topicA, "retention.ms", "7200000", true)
	expectConfig(ctx, adm, topicA, "max.message.bytes", "2000000", true)
	expectConfig(ctx, adm, topicA, "cleanup.policy", "delete", false)
	bad, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("not-a-number")},
	}, topicA)
	c.Must(err, "IncrementalAlterConfigs %s with a bad value", topicA)
	if bad[0].Err == nil {
		c.Failf("retention.ms=not-a-number was accepted; want INVALID_CONFIG")
	}
	expectConfig(ctx, adm, topicA, "retention.ms", "7200000", true)
	c.Logf("configs altered incrementally; bad value refused with %v", bad[0].Err)

	// Records: 100 into partition 0, then delete those before offset 40.
	prod, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	c.Must(err, "new producer")
	for i := 0; i < 100; i++ {
		prod.Produce(ctx, &kgo.Record{Topic: topicA, Partition: 0, Key: []byte(c.Key(i)), Value: []byte(c.Value(i))}, nil)
	}
	c.Must(prod.Flush(ctx), "flush 100 records")
	prod.Close()
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: topicA, Partition: 0, At: 40})
	dr, err := adm.DeleteRecords(ctx, del)
	c.Must(err, "DeleteRecords")
	c.Must(dr.Error(), "DeleteRecords result")
	if r, _ := dr.Lookup(topicA, 0); r.LowWatermark != 40 {
		c.Failf("DeleteRecords low watermark %d, want 40", r.LowWatermark)
	}
	expectOffsets(ctx, adm, topicA, 0, 40, 100)
	expectOffsets(ctx, adm, topicA, 1, 0, 0)
	c.Logf("DeleteRecords moved the start of %s-0 to 40", topicA)

	// Groups: an empty group whose offsets are set by the admin, and a live one.
	const emptyGroup = "franz-admin-offsets"
	var commit kadm.Offsets
	commit.Add(kadm.Offset{Topic: topicA, Partition: 0, At: 55, LeaderEpoch: -1})
	commit.Add(kadm.Offset{Topic: topicA, Partition: 1, At: 0, LeaderEpoch: -1})
	c.Must(adm.CommitAllOffsets(ctx, emptyGroup, commit), "CommitOffsets %s", emptyGroup)
	expectGroupOffsets(ctx, adm, emptyGroup, map[int32]int64{0: 55, 1: 0})
	commit = nil
	commit.Add(kadm.Offset{Topic: topicA, Partition: 0, At: 70, LeaderEpoch: -1})
	c.Must(adm.CommitAllOffsets(ctx, emptyGroup, commit), "alter offsets of %s", emptyGroup)
	expectGroupOffsets(ctx, adm, emptyGroup, map[int32]int64{0: 70, 1: 0})

	const liveGroup = "franz-admin-live"
	member, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(liveGroup),
		kgo.ConsumeTopics(topicA), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	c.Must(err, "new group member")
	seen := 0
	for seen < 60 { // partition 0 holds offsets 40..99
		fs := member.PollFetches(ctx)
		if ctx.Err() != nil {
			c.Failf("live group member read %d of 60 records before the time limit", seen)
		}
		fs.EachError(func(t string, p int32, err error) { c.Failf("member fetch %s-%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(40+seen) {
				c.Failf("member read offset %d, want %d", r.Offset, 40+seen)
			}
			seen++
		})
	}
	listed, err := adm.ListGroups(ctx)
	c.Must(err, "ListGroups")
	for _, g := range []string{emptyGroup, liveGroup} {
		if _, ok := listed[g]; !ok {
			c.Failf("ListGroups %v lacks %s", listed.Groups(), g)
		}
	}
	described, err := adm.DescribeGroups(ctx, emptyGroup, liveGroup)
	c.Must(err, "DescribeGroups")
	c.Must(described.Error(), "DescribeGroups result")
	if g := described[emptyGroup]; g.State != "Empty" || len(g.Members) != 0 {
		c.Failf("%s: state %q members %d, want Empty and 0", emptyGroup, g.State, len(g.Members))
	}
	live := described[liveGroup]
	if live.State != "Stable" || len(live.Members) != 1 || live.ProtocolType != "consumer" {
		c.Failf("%s: state %q members %d protocol type %q, want Stable, 1, consumer", liveGroup, live.State, len(live.Members), live.ProtocolType)
	}
	assigned, _ := live.Members[0].Assigned.AsConsumer()
	if assigned == nil || len(assigned.Topics) != 1 || len(assigned.Topics[0].Partitions) != 5 {
		c.Failf("%s member assignment %+v, want all 5 partitions of %s", liveGroup, assigned, topicA)
	}
	c.Logf("groups listed and described: %s Empty, %s Stable with 1 member on 5 partitions", emptyGroup, liveGroup)

	// Deleting a group with a member is refused; after the member leaves it works.
	dg, err := adm.DeleteGroups(ctx, liveGroup)
	c.Must(err, "DeleteGroups %s while live", liveGroup)
	if dg.Error() == nil {
		c.Failf("deleting live group %s succeeded; want NON_EMPTY_GROUP", liveGroup)
	}
	member.Close()
	dg, err = adm.DeleteGroups(ctx, emptyGroup, liveGroup)
	c.Must(err, "DeleteGroups")
	c.Must(dg.Error(), "DeleteGroups result")
	listed, err = adm.ListGroups(ctx)
	c.Must(err, "ListGroups after delete")
	for _, g := range []string{emptyGroup, liveGroup} {
		if _, ok := listed[g]; ok {
			c.Failf("ListGroups still lists deleted group %s", g)
		}
	}
	fo, err := adm.FetchOffsets(ctx, emptyGroup)
	c.Must(err, "FetchOffsets of deleted group")
	if o, ok := fo.Lookup(topicA, 0); ok && o.At >= 0 {
		c.Failf("deleted group %s still has offset %d", emptyGroup, o.At)
	}
	c.Logf("groups deleted")

	// Cluster.
	bm, err := adm.BrokerMetadata(ctx)
	c.Must(err, "Metadata (brokers)")
	if len(bm.Brokers) != 1 || bm.Cluster == "" || bm.Controller != bm.Brokers[0].NodeID {
		c.Failf("metadata: brokers %v cluster %q controller %d", bm.Brokers, bm.Cluster, bm.Controller)
	}
	dcReq := kmsg.NewPtrDescribeClusterRequest()
	dc, err := dcReq.RequestWith(ctx, cl)
	c.Must(err, "DescribeCluster")
	if dc.ErrorCode != 0 || len(dc.Brokers) != 1 || dc.ClusterID != bm.Cluster || dc.ControllerID != bm.Controller ||
		dc.Brokers[0].NodeID != bm.Brokers[0].NodeID || dc.Brokers[0].Port != bm.Brokers[0].Port {
		c.Failf("DescribeCluster: error %d cluster %q controller %d brokers %+v; metadata said cluster %q controller %d brokers %v",
			dc.ErrorCode, dc.ClusterID, dc.ControllerID, dc.Brokers, bm.Cluster, bm.Controller, bm.Brokers)
	}
	c.Logf("cluster %s, broker %d at %s:%d", dc.ClusterID, dc.Brokers[0].NodeID, dc.Brokers[0].Host, dc.Brokers[0].Port)

	// Delete topic B; A stays.
	dt, err := adm.DeleteTopics(ctx, topicB)
	c.Must(err, "DeleteTopics %s", topicB)
	c.Must(dt.Error(), "DeleteTopics %s result", topicB)
	waitFor(ctx, "topic "+topicB+" to disappear from ListTopics", func() (bool, string) {
		ts, err := adm.ListTopics(ctx)
		if err != nil {
			return false, err.Error()
		}
		return !ts.Has(topicB) && ts.Has(topicA), fmt.Sprint(ts.Names())
	})
	dt, err = adm.DeleteTopics(ctx, topicB)
	c.Must(err, "DeleteTopics %s again", topicB)
	if dt.Error() == nil {
		c.Failf("deleting %s twice succeeded; want UNKNOWN_TOPIC_OR_PARTITION", topicB)
	}
	c.Logf("franz-admin: all checks passed")
}

func waitFor(ctx context.Context, what string, cond func() (bool, string)) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.Failf("waited 15 s for %s; last state: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitPartitions(ctx context.Context, adm *kadm.Client, topic string, n int) {
	waitFor(ctx, fmt.Sprintf("%s to have %d partitions", topic, n), func() (bool, string) {
		ts, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		t, ok := ts[topic]
		if !ok || t.Err != nil {
			return false, fmt.Sprintf("present %v err %v", ok, t.Err)
		}
		return len(t.Partitions) == n, fmt.Sprintf("%d partitions", len(t.Partitions))
	})
}

// expectConfig waits until DescribeConfigs gives topic's key as value: reference Kafka applies a
// config change on its brokers once the controller's metadata reaches them, a moment after the
// change was answered, so the first describe may still show the old value.
func expectConfig(ctx context.Context, adm *kadm.Client, topic, key, value string, dynamic bool) {
	waitFor(ctx, fmt.Sprintf("%s %s = %q (topic-level: %v)", topic, key, value, dynamic), func() (bool, string) {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return false, err.Error()
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			return false, err.Error()
		}
		if rc.Err != nil {
			return false, rc.Err.Error()
		}
		keys := make([]string, 0, len(rc.Configs))
		for _, cfg := range rc.Configs {
			if cfg.Key == key {
				isDynamic := cfg.Source == kmsg.ConfigSourceDynamicTopicConfig
				state := fmt.Sprintf("%q (source %v)", cfg.MaybeValue(), cfg.Source)
				return cfg.MaybeValue() == value && isDynamic == dynamic, state
			}
			keys = append(keys, cfg.Key)
		}
		slices.Sort(keys)
		return false, fmt.Sprintf("no %s among %v", key, keys)
	})
}

func expectOffsets(ctx context.Context, adm *kadm.Client, topic string, p int32, start, end int64) {
	so, err := adm.ListStartOffsets(ctx, topic)
	c.Must(err, "ListOffsets earliest")
	eo, err := adm.ListEndOffsets(ctx, topic)
	c.Must(err, "ListOffsets latest")
	s, _ := so.Lookup(topic, p)
	e, _ := eo.Lookup(topic, p)
	if s.Err != nil || e.Err != nil || s.Offset != start || e.Offset != end {
		c.Failf("%s-%d: start %d (%v) end %d (%v), want %d and %d", topic, p, s.Offset, s.Err, e.Offset, e.Err, start, end)
	}
}

func expectGroupOffsets(ctx context.Context, adm *kadm.Client, group string, want map[int32]int64) {
	fo, err := adm.FetchOffsets(ctx, group)
	c.Must(err, "OffsetFetch %s", group)
	c.Must(fo.Error(), "OffsetFetch %s result", group)
	for p, at := range want {
		o, ok := fo.Lookup(topicA, p)
		if !ok || o.At != at {
			c.Failf("group %s offset for %s-%d: %d (present %v), want %d", group, topicA, p, o.At, ok, at)
		}
	}
}
