package redisops

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// ListRun is a read-only scan of delayed sets. It sends no FCALL and no
// write, so an ACL user limited to reads can run it.
type ListRun struct {
	// SinceMs, when set, makes each group also count the entries that fell
	// due after it (a previous reading's clock): the refreshes of top.
	SinceMs      int64
	c            *Client
	scope        model.Scope
	shards       []*Shard
	ServerTimeMs int64
}

// NewList resolves which primary owns each partition and reads their clocks.
func (c *Client) NewList(ctx context.Context, scope model.Scope, snap *Snapshot) (*ListRun, error) {
	shards, err := c.shards(ctx, scope.AllPartitions())
	if err != nil {
		return nil, err
	}
	if err := c.readClocks(ctx, shards, snap); err != nil {
		return nil, err
	}
	return &ListRun{c: c, scope: scope, shards: shards, ServerTimeMs: earliestClock(shards)}, nil
}

// listChunk bounds the groups in one pipeline so replies stay small.
const listChunk = 1024

// Groups reads every group's figures (one pipelined pass per shard) and
// returns them in partition then lane order. With executions > 0 each group
// also carries up to that many due executions, oldest first.
func (l *ListRun) Groups(ctx context.Context, executions int) ([]model.Group, error) {
	var out []model.Group
	results := make([][]model.Group, len(l.shards))
	err := parallel(l.shards, func(sh *Shard) error {
		idx := slices.Index(l.shards, sh)
		groups := l.scope.Groups(sh.partitions)
		for start := 0; start < len(groups); start += listChunk {
			end := min(start+listChunk, len(groups))
			gs, err := l.readGroups(ctx, sh, groups[start:end], executions)
			if err != nil {
				return err
			}
			results[idx] = append(results[idx], gs...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		out = append(out, r...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Lane < out[j].Lane
	})
	return out, nil
}

// readGroups costs one pipelined pass of four cheap commands per group:
// ZCARD, ZCOUNT up to now, ZCOUNT of misplaced scores, and the lowest
// entries from model.MinDueTimeMs on (which give the oldest due entries and,
// when they run past now, the next one to fall due). Only groups whose next
// due time is still unknown need a second, smaller pass.
func (l *ListRun) readGroups(ctx context.Context, sh *Shard, groups []model.PartitionLane, executions int) ([]model.Group, error) {
	now := strconv.FormatInt(sh.nowMs, 10)
	nowF := float64(sh.nowMs)
	k := int64(max(1, executions))
	type cmds struct {
		card, due, misplaced, newly *redis.IntCmd
		lowest                      *redis.ZSliceCmd
	}
	floor := strconv.FormatInt(model.MinDueTimeMs, 10)
	cs := make([]cmds, len(groups))
	err := l.c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, g := range groups {
			key := DelayedKey(g.Partition, g.Lane)
			cs[i].card = p.ZCard(ctx, key)
			cs[i].due = p.ZCount(ctx, key, "-inf", now)
			cs[i].misplaced = p.ZCount(ctx, key, "-inf", "("+floor)
			// The k lowest real ones, plus one to see past the due ones.
			cs[i].lowest = p.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: floor, Max: "+inf", Count: k + 1})
			if l.SinceMs > 0 {
				cs[i].newly = p.ZCount(ctx, key, "("+strconv.FormatInt(l.SinceMs, 10), now)
			}
		}
		return nil
	})
	if err != nil && !errNil(err) {
		if kindOf(err) != KindOther {
			return nil, l.c.wrap(sh.addr, err)
		}
		// Name the set that answered with an error (WRONGTYPE, say).
		for i, g := range groups {
			if e := firstErr(cs[i].card.Err(), cs[i].due.Err(), cs[i].misplaced.Err(), cs[i].lowest.Err()); e != nil {
				return nil, l.c.wrap(sh.addr, fmt.Errorf("delayed set %s: %w", DelayedKey(g.Partition, g.Lane), e))
			}
		}
		return nil, l.c.wrap(sh.addr, err)
	}
	out := make([]model.Group, 0, len(groups))
	var unknownNext []int
	for i, g := range groups {
		gr := model.Group{Partition: g.Partition, Lane: g.Lane, ServerTimeMs: sh.nowMs,
			Delayed: cs[i].card.Val(), Due: cs[i].due.Val(), Misplaced: cs[i].misplaced.Val(), Unregistered: l.scope.Unregistered[g.Lane]}
		if cs[i].newly != nil {
			gr.NewlyDue = cs[i].newly.Val()
		}
		if gr.Delayed == 0 {
			continue
		}
		lowest := cs[i].lowest.Val()
		for j, z := range lowest {
			if math.IsInf(z.Score, 1) {
				break // +inf is never due, and names no time
			}
			ms := scoreMs(z.Score)
			if z.Score > nowF {
				gr.NextDueMs = &ms
				break
			}
			if j == 0 {
				gr.OldestDueMs = &ms
				gr.MaxOverdueMs = max(0, sh.nowMs-ms)
			}
			if int64(j) < int64(executions) {
				id, _ := z.Member.(string)
				gr.Executions = append(gr.Executions, model.DueExecution{ExecutionID: id, DelayUntilMs: ms, OverdueMs: max(0, sh.nowMs-ms)})
			}
		}
		if gr.NextDueMs == nil && gr.Delayed > gr.Due && int64(len(lowest)) > k {
			unknownNext = append(unknownNext, len(out))
		}
		out = append(out, gr)
	}
	if len(unknownNext) == 0 {
		return out, nil
	}
	next := make([]*redis.ZSliceCmd, len(unknownNext))
	err = l.c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
		for i, gi := range unknownNext {
			g := out[gi]
			next[i] = p.ZRangeByScoreWithScores(ctx, DelayedKey(g.Partition, g.Lane), &redis.ZRangeBy{Min: "(" + now, Max: "+inf", Count: 1})
		}
		return nil
	})
	if err != nil && !errNil(err) {
		return nil, l.c.wrap(sh.addr, err)
	}
	for i, gi := range unknownNext {
		if z := next[i].Val(); len(z) > 0 && !math.IsInf(z[0].Score, 1) {
			ms := scoreMs(z[0].Score)
			out[gi].NextDueMs = &ms
		}
	}
	return out, nil
}

// scoreMs turns a delayed score (ms, maybe fractional) into whole ms.
func scoreMs(score float64) int64 {
	if math.IsInf(score, 0) || math.IsNaN(score) {
		return 0
	}
	return int64(math.Floor(score))
}
