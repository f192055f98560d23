package redisops

import (
	"context"
	"strconv"
	"sync"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// Forecast counts, per lane, the delayed entries due now and those that
// fall due in each bin of the coming window: the score's ranges (-inf,
// now], (now, ends[0]], (ends[0], ends[1]], ... and (ends[last], +inf),
// where now is each primary's own clock and ends (times in ms) come from
// grid, given the earliest clock. They split every set exactly, so a
// lane's counts add up to its sets' sizes.
//
// Its cost does not grow with the executions, only with the sets and the
// bins: one pipelined ZCARD per set, then, for the sets that are not
// empty, one ZCOUNT per range (O(log n) each on the server), in pipelines
// of at most listChunk commands, per primary in parallel.
func (c *Client) Forecast(ctx context.Context, scope model.Scope, snap *Snapshot, grid func(nowMs int64) []int64) (model.Forecast, error) {
	out := model.Forecast{Lanes: map[string][]int64{}}
	shards, err := c.shards(ctx, scope.AllPartitions())
	if err != nil {
		return out, err
	}
	if err := c.readClocks(ctx, shards, snap); err != nil {
		return out, err
	}
	out.ServerTimeMs = earliestClock(shards)
	out.EndsMs = grid(out.ServerTimeMs)
	endsMs := out.EndsMs
	var mu sync.Mutex
	err = parallel(shards, func(sh *Shard) error {
		lanes, sets, err := c.forecastShard(ctx, sh, scope.Groups(sh.partitions), endsMs)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		out.Sets += sets
		for lane, counts := range lanes {
			sum := out.Lanes[lane]
			if sum == nil {
				sum = make([]int64, len(counts))
				out.Lanes[lane] = sum
			}
			for i, n := range counts {
				sum[i] += n
			}
		}
		return nil
	})
	return out, err
}

// forecastShard is Forecast on one primary: the counts per lane, and how
// many sets were not empty.
func (c *Client) forecastShard(ctx context.Context, sh *Shard, groups []model.PartitionLane, endsMs []int64) (map[string][]int64, int, error) {
	sizes, _, err := c.cardinalities(ctx, sh, groups)
	if err != nil {
		return nil, 0, err
	}
	var live []model.PartitionLane
	for i, g := range groups {
		if sizes[i] > 0 {
			live = append(live, g)
		}
	}
	// The range bounds, the same for every set of the primary.
	ranges := len(endsMs) + 2
	mins, maxs := make([]string, ranges), make([]string, ranges)
	now := strconv.FormatInt(sh.nowMs, 10)
	mins[0], maxs[0] = "-inf", now
	prev := "(" + now
	for i, end := range endsMs {
		// A primary whose clock is ahead of the earliest may be past the
		// first ends already: its range is then empty, never negative.
		bound := strconv.FormatInt(max(end, sh.nowMs), 10)
		mins[i+1], maxs[i+1] = prev, bound
		prev = "(" + bound
	}
	mins[ranges-1], maxs[ranges-1] = prev, "+inf"

	out := map[string][]int64{}
	perPipeline := max(1, listChunk/ranges)
	for start := 0; start < len(live); start += perPipeline {
		chunk := live[start:min(start+perPipeline, len(live))]
		cmds := make([]*redis.IntCmd, 0, len(chunk)*ranges)
		perr := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
			for _, g := range chunk {
				key := DelayedKey(g.Partition, g.Lane)
				for r := 0; r < ranges; r++ {
					cmds = append(cmds, p.ZCount(ctx, key, mins[r], maxs[r]))
				}
			}
			return nil
		})
		if perr != nil && kindOf(perr) != KindOther {
			return nil, 0, c.wrap(sh.addr, perr)
		}
		for i, g := range chunk {
			counts := out[g.Lane]
			if counts == nil {
				counts = make([]int64, ranges)
				out[g.Lane] = counts
			}
			for r := 0; r < ranges; r++ {
				n, err := cmds[i*ranges+r].Result()
				if err != nil {
					// A key of another type: not a delayed set of ours.
					break
				}
				counts[r] += n
			}
		}
	}
	return out, len(live), nil
}

// cardinalities reads each group's ZCARD, in pipelines of listChunk; a key
// that could not be counted (another type) has its error in errs.
func (c *Client) cardinalities(ctx context.Context, sh *Shard, groups []model.PartitionLane) (sizes []int64, errs []error, err error) {
	cards := make([]*redis.IntCmd, len(groups))
	for start := 0; start < len(groups); start += listChunk {
		end := min(start+listChunk, len(groups))
		perr := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
			for i := start; i < end; i++ {
				cards[i] = p.ZCard(ctx, DelayedKey(groups[i].Partition, groups[i].Lane))
			}
			return nil
		})
		if perr != nil && kindOf(perr) != KindOther {
			return nil, nil, c.wrap(sh.addr, perr)
		}
	}
	sizes, errs = make([]int64, len(groups)), make([]error, len(groups))
	for i := range groups {
		sizes[i], errs[i] = cards[i].Result()
	}
	return sizes, errs, nil
}
