package redisops

import (
	"context"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shard is the work of one primary: the partitions whose slots it owns.
// Every command for them goes on node, the primary's own connections,
// which never re-send a command and follow no redirect: an FCALL runs at
// most once, and a MOVED ends the run ("the cluster's layout changed").
type Shard struct {
	addr       string
	node       *redis.Client
	partitions []int
	nowMs      int64
}

// Addr names the primary a shard's commands go to.
func (sh *Shard) Addr() string { return sh.addr }

// Partitions are the partitions whose slots the shard's primary owns.
func (sh *Shard) Partitions() []int { return sh.partitions }

// NowMs is the shard's primary clock, read by ReadClocks.
func (sh *Shard) NowMs() int64 { return sh.nowMs }

// RoundTrip times one PING to the shard's primary: the network's round
// trip, for sizing batches by the server's time alone.
func (c *Client) RoundTrip(ctx context.Context, sh *Shard) (time.Duration, error) {
	start := time.Now()
	if err := sh.node.Ping(ctx).Err(); err != nil {
		return 0, c.wrap(sh.addr, err)
	}
	return time.Since(start), nil
}

// Shards groups partitions by the primary that owns their slot (one shard
// on a standalone server), sorted by address.
func (c *Client) Shards(ctx context.Context, partitions []int) ([]*Shard, error) {
	return c.shards(ctx, partitions)
}

// ReadClocks sets every shard's clock from its own primary's TIME (or a
// fresh snapshot) and returns the earliest.
func (c *Client) ReadClocks(ctx context.Context, shards []*Shard, snap *Snapshot) (int64, error) {
	if err := c.readClocks(ctx, shards, snap); err != nil {
		return 0, err
	}
	return earliestClock(shards), nil
}

// shards groups partitions by the primary that owns them.
func (c *Client) shards(ctx context.Context, partitions []int) ([]*Shard, error) {
	if c.cluster == nil {
		return []*Shard{{addr: c.single.Options().Addr, node: c.single, partitions: partitions}}, nil
	}
	byAddr := map[string]*Shard{}
	var out []*Shard
	for _, p := range partitions {
		n, err := c.cluster.MasterForKey(ctx, partitionTag(p))
		if err != nil {
			return nil, c.wrap(c.Addr(), err)
		}
		addr := n.Options().Addr
		sh := byAddr[addr]
		if sh == nil {
			sh = &Shard{addr: addr, node: n}
			byAddr[addr] = sh
			out = append(out, sh)
		}
		sh.partitions = append(sh.partitions, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out, nil
}

// nodeForKey is the connection of the primary that owns key's slot in the
// slot map (the one server when standalone), for commands on keys outside
// every partition (the registry, the lease).
func (c *Client) nodeForKey(ctx context.Context, key string) (string, *redis.Client, error) {
	if c.cluster == nil {
		return c.single.Options().Addr, c.single, nil
	}
	n, err := c.cluster.MasterForKey(ctx, key)
	if err != nil {
		return c.Addr(), nil, c.wrap(c.Addr(), err)
	}
	return n.Options().Addr, n, nil
}

// readClocks sets every shard's nowMs from its own primary's TIME, or from
// a fresh snapshot on a standalone server.
func (c *Client) readClocks(ctx context.Context, shards []*Shard, snap *Snapshot) error {
	if c.single != nil && snap.fresh() && snap.ClockMs > 0 {
		shards[0].nowMs = snap.ClockMs
		return nil
	}
	return parallel(shards, func(sh *Shard) error {
		t, err := sh.node.Time(ctx).Result()
		if err != nil {
			return c.wrap(sh.addr, err)
		}
		sh.nowMs = t.UnixMilli()
		return nil
	})
}

func earliestClock(shards []*Shard) int64 {
	var earliest int64
	for _, sh := range shards {
		if earliest == 0 || sh.nowMs < earliest {
			earliest = sh.nowMs
		}
	}
	return earliest
}

// parallel runs fn for every shard (or node) at once and returns the
// first error.
func parallel[T any](shards []T, fn func(T) error) error {
	if len(shards) == 1 {
		return fn(shards[0])
	}
	errs := make(chan error, len(shards))
	for _, sh := range shards {
		go func(sh T) { errs <- fn(sh) }(sh)
	}
	var first error
	for range shards {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
