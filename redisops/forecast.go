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
// bins: one pipelined ZCARD and ZCOUNT per set (CountDue), then, for the
// sets that hold entries not yet due, one ZCOUNT per bin and one beyond
// (O(log n) each on the server), in pipelines of at most listChunk
// commands, per primary in parallel.
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
// many sets were not empty. CountDue's pass gives each set's size and its
// due count, the first range; the sets that hold more than their due
// entries then get one ZCOUNT per bin and one for beyond.
func (c *Client) forecastShard(ctx context.Context, sh *Shard, groups []model.PartitionLane, endsMs []int64) (map[string][]int64, int, error) {
	due, sizes, errs, err := c.CountDue(ctx, sh, groups)
	if err != nil {
		return nil, 0, err
	}
	ranges := len(endsMs) + 2
	out := map[string][]int64{}
	live := 0
	var later []model.PartitionLane
	for i, g := range groups {
		if errs[i] != nil || sizes[i] == 0 {
			// Empty, or a key of another type: not a delayed set of ours.
			continue
		}
		live++
		counts := out[g.Lane]
		if counts == nil {
			counts = make([]int64, ranges)
			out[g.Lane] = counts
		}
		counts[0] += due[i]
		if sizes[i] > due[i] {
			later = append(later, g)
		}
	}
	// The bins' bounds, the same for every set of the primary.
	bins := ranges - 1
	mins, maxs := make([]string, bins), make([]string, bins)
	prev := "(" + strconv.FormatInt(sh.nowMs, 10)
	for i, end := range endsMs {
		// A primary whose clock is ahead of the earliest may be past the
		// first ends already: its range is then empty, never negative.
		bound := strconv.FormatInt(max(end, sh.nowMs), 10)
		mins[i], maxs[i] = prev, bound
		prev = "(" + bound
	}
	mins[bins-1], maxs[bins-1] = prev, "+inf"

	perPipeline := max(1, listChunk/bins)
	for start := 0; start < len(later); start += perPipeline {
		chunk := later[start:min(start+perPipeline, len(later))]
		cmds := make([]*redis.IntCmd, 0, len(chunk)*bins)
		perr := c.pipeline(ctx, sh.addr, sh.node, func(p redis.Pipeliner) error {
			for _, g := range chunk {
				key := DelayedKey(g.Partition, g.Lane)
				for r := range bins {
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
			for r := range bins {
				n, err := cmds[i*bins+r].Result()
				if err != nil {
					// Replaced by a key of another type since: not ours.
					break
				}
				counts[r+1] += n
			}
		}
	}
	return out, live, nil
}
