// franz-group: three franz-go group members split a 4-partition topic, read and commit 2,000
// records between them exactly once; after they leave, a new member resumes at the committed
// offsets and reads exactly the 2,000 records written since (no loss, no re-read).
package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	c "strata.local/compat/go/internal/compat"
)

const (
	topic      = "franz-group-topic"
	group      = "franz-group"
	partitions = 4
	perBatch   = 500 // records per partition per batch
)

// state is shared by every member: who holds which partitions and what was read where.
type state struct {
	mu       sync.Mutex
	assigned map[string]map[int32]bool // member name -> partitions
	read     map[[2]int64]string       // (partition, offset) -> member that read it
	last     map[int32]int64           // partition -> last offset read
	problems []string
}

func (s *state) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func main() {
	bootstrap, ctx := c.Setup("franz-group")
	admCl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	c.Must(err, "new admin client")
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	res, err := adm.CreateTopics(ctx, partitions, 1, nil, topic)
	c.Must(err, "CreateTopics")
	c.Must(res.Error(), "CreateTopics result")

	st := &state{assigned: map[string]map[int32]bool{}, read: map[[2]int64]string{}, last: map[int32]int64{}}
	for p := int32(0); p < partitions; p++ {
		st.last[p] = -1
	}

	// Phase 1: three members join and split the partitions before anything is written.
	var members []*member
	for i := 0; i < 3; i++ {
		members = append(members, startMember(ctx, bootstrap, fmt.Sprintf("m%d", i+1), st))
	}
	waitFor(ctx, "3 members to split 4 partitions", func() (bool, string) {
		st.mu.Lock()
		defer st.mu.Unlock()
		held := map[int32]int{}
		busy := 0
		for _, ps := range st.assigned {
			if len(ps) > 0 {
				busy++
			}
			for p := range ps {
				held[p]++
			}
		}
		ok := busy == 3 && len(held) == partitions
		for _, n := range held {
			ok = ok && n == 1
		}
		return ok, fmt.Sprint(st.assigned)
	})
	st.mu.Lock()
	c.Logf("assignment after 3 joins: %v", st.assigned)
	st.mu.Unlock()

	produce(ctx, bootstrap, 0)
	waitFor(ctx, "the members to read the first 2,000 records", func() (bool, string) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.read) >= partitions*perBatch || len(st.problems) > 0, fmt.Sprintf("%d read", len(st.read))
	})
	for _, m := range members {
		m.stop() // commits were synchronous after each poll; Close leaves the group
	}
	checkProblems(st)
	for p := int32(0); p < partitions; p++ {
		if st.last[p] != perBatch-1 {
			c.Failf("partition %d: last offset read %d, want %d", p, st.last[p], perBatch-1)
		}
	}
	for key, who := range st.read {
		if !held(st, who, int32(key[0])) {
			c.Failf("member %s read partition %d it was not assigned", who, key[0])
		}
	}
	expectCommitted(ctx, adm, perBatch)
	c.Logf("phase 1: 3 members read %d records exactly once and committed %d per partition", len(st.read), perBatch)

	// Phase 2: more records while nobody is in the group, then a new member resumes.
	produce(ctx, bootstrap, perBatch)
	st.assigned = map[string]map[int32]bool{}
	before := len(st.read)
	late := startMember(ctx, bootstrap, "m4", st)
	waitFor(ctx, "the new member to read the 2,000 new records", func() (bool, string) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.read)-before >= partitions*perBatch || len(st.problems) > 0, fmt.Sprintf("%d new read", len(st.read)-before)
	})
	time.Sleep(time.Second) // a re-read of old records or extra records would show up here
	st.mu.Lock()
	c.Logf("assignment of the new member: %v", st.assigned)
	st.mu.Unlock()
	late.stop()
	checkProblems(st)
	if n := len(st.read) - before; n != partitions*perBatch {
		c.Failf("new member read %d records, want %d", n, partitions*perBatch)
	}
	for p := int32(0); p < partitions; p++ {
		if !held(st, "m4", p) {
			c.Failf("new member was never assigned partition %d; want all %d", p, partitions)
		}
	}
	expectCommitted(ctx, adm, 2*perBatch)
	c.Logf("phase 2: the new member resumed at offset %d on every partition and read %d records", perBatch, partitions*perBatch)
	c.Logf("franz-group: all checks passed")
}

// everHeld remembers every partition a member was ever given, since a cooperative rebalance
// may move one away after the member read from it.
var everHeld sync.Map

func held(st *state, who string, p int32) bool {
	_, ok := everHeld.Load(fmt.Sprint(who, "/", p))
	return ok
}

type member struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *member) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

func startMember(ctx context.Context, bootstrap, name string, st *state) *member {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			st.mu.Lock()
			defer st.mu.Unlock()
			if st.assigned[name] == nil {
				st.assigned[name] = map[int32]bool{}
			}
			for _, p := range a[topic] {
				st.assigned[name][p] = true
				everHeld.Store(fmt.Sprint(name, "/", p), true)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			st.mu.Lock()
			for _, p := range r[topic] {
				delete(st.assigned[name], p)
			}
			st.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			st.problem("%s lost partitions %v", name, l)
		}),
	)
	c.Must(err, "new member %s", name)
	mctx, cancel := context.WithCancel(ctx)
	m := &member{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for mctx.Err() == nil {
			fs := cl.PollFetches(mctx)
			if mctx.Err() != nil {
				return
			}
			fs.EachError(func(t string, p int32, err error) { st.problem("%s: fetch %s-%d: %v", name, t, p, err) })
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				recs = append(recs, r)
				st.mu.Lock()
				key := [2]int64{int64(r.Partition), r.Offset}
				if prev, dup := st.read[key]; dup {
					st.problems = append(st.problems, fmt.Sprintf("%s re-read %d@%d (first read by %s)", name, r.Partition, r.Offset, prev))
				}
				if r.Offset != st.last[r.Partition]+1 {
					st.problems = append(st.problems, fmt.Sprintf("%s read %d@%d after offset %d (gap or re-read)", name, r.Partition, r.Offset, st.last[r.Partition]))
				}
				if want := c.Key(int(r.Partition)*100000 + int(r.Offset)); string(r.Key) != want {
					st.problems = append(st.problems, fmt.Sprintf("%s read key %q at %d@%d, want %q", name, r.Key, r.Partition, r.Offset, want))
				}
				st.read[key] = name
				st.last[r.Partition] = r.Offset
				st.mu.Unlock()
			})
			if len(recs) > 0 {
				// Everything read is committed before the next poll, where a rebalance can happen.
				cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
				if err := cl.CommitRecords(cctx, recs...); err != nil {
					st.problem("%s: commit: %v", name, err)
				}
				ccancel()
			}
		}
	}()
	return m
}

// produce writes perBatch records to each partition; record (p, o) has key Key(p*100000+o).
func produce(ctx context.Context, bootstrap string, firstOffset int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	c.Must(err, "new producer")
	defer cl.Close()
	var recs []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		for o := firstOffset; o < firstOffset+perBatch; o++ {
			i := int(p)*100000 + o
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(c.Key(i)), Value: []byte(c.Value(i))})
		}
	}
	for _, r := range cl.ProduceSync(ctx, recs...) {
		c.Must(r.Err, "produce %s-%d", r.Record.Topic, r.Record.Partition)
		if r.Record.Offset != int64(firstOffset)+int64(c.MustIndex(r.Record.Key)%100000-firstOffset) {
			c.Failf("record %q landed at offset %d", r.Record.Key, r.Record.Offset)
		}
	}
}

func expectCommitted(ctx context.Context, adm *kadm.Client, want int64) {
	fo, err := adm.FetchOffsets(ctx, group)
	c.Must(err, "OffsetFetch")
	c.Must(fo.Error(), "OffsetFetch result")
	for p := int32(0); p < partitions; p++ {
		o, ok := fo.Lookup(topic, p)
		if !ok || o.At != want {
			c.Failf("committed offset of %s-%d: %d (present %v), want %d", topic, p, o.At, ok, want)
		}
	}
}

func checkProblems(st *state) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.problems) > 0 {
		sort.Strings(st.problems)
		c.Failf("%d problems, first: %v", len(st.problems), st.problems[:min(5, len(st.problems))])
	}
}

func waitFor(ctx context.Context, what string, cond func() (bool, string)) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, s := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.Failf("waited 60 s for %s; last state: %s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
