package redisops

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// DelayedEntry is one member of a delayed set.
type DelayedEntry struct {
	Partition   int
	Lane        string
	ExecutionID string
}

// StuckEntry is a delayed member the engine's promoter cannot resolve.
type StuckEntry struct {
	DelayedEntry
	Reason string
}

// FindStuck reads the cores of entries (pipelined per primary) and returns
// those that are stuck: no numeric delay_until (the function fails forever),
// already eligible (cleaning drops it from every set), or a member that is
// not a valid id of its partition.
func (c *Client) FindStuck(ctx context.Context, entries []DelayedEntry) ([]StuckEntry, error) {
	var stuck []StuckEntry
	byPart := map[int][]DelayedEntry{}
	var parts []int
	for _, e := range entries {
		id, err := model.ParseExecutionID(e.ExecutionID)
		switch {
		case err != nil:
			stuck = append(stuck, StuckEntry{e, "member is not a valid execution id"})
			continue
		case id.Partition != e.Partition:
			stuck = append(stuck, StuckEntry{e, fmt.Sprintf("id tagged for partition %d sits in partition %d", id.Partition, e.Partition)})
			continue
		}
		if _, ok := byPart[e.Partition]; !ok {
			parts = append(parts, e.Partition)
		}
		byPart[e.Partition] = append(byPart[e.Partition], e)
	}
	shards, err := c.shards(ctx, parts)
	if err != nil {
		return nil, err
	}
	results := make([][]StuckEntry, len(shards))
	err = parallel(shards, func(sh *Shard) error {
		var es []DelayedEntry
		for _, p := range sh.partitions {
			es = append(es, byPart[p]...)
		}
		exists := make([]*redis.IntCmd, len(es))
		fields := make([]*redis.SliceCmd, len(es))
		err := c.pipeline(ctx, sh.addr, sh.cmd, func(p redis.Pipeliner) error {
			for i, e := range es {
				key := CoreKey(e.Partition, e.ExecutionID)
				exists[i] = p.Exists(ctx, key)
				fields[i] = p.HMGet(ctx, key, "lifecycle_phase", "eligibility_state", "delay_until")
			}
			return nil
		})
		if err != nil && kindOf(err) != KindOther {
			return c.wrap(sh.addr, err)
		}
		idx := slices.Index(shards, sh)
		for i, e := range es {
			vals, err := fields[i].Result()
			if err != nil || exists[i].Val() == 0 {
				continue
			}
			// Only the states no clock can fix count: a runnable core
			// without a numeric delay_until, or one no longer delayed.
			_, duErr := strconv.ParseFloat(strings.TrimSpace(str(vals[2])), 64)
			switch runnable := str(vals[0]) == "runnable"; {
			case runnable && str(vals[1]) == "not_eligible_until_time" && duErr != nil:
				results[idx] = append(results[idx], StuckEntry{e, "no delay_until: ff_promote_delayed fails on it forever"})
			case runnable && str(vals[1]) != "not_eligible_until_time":
				results[idx] = append(results[idx], StuckEntry{e, "already " + str(vals[1]) + " but in the delayed set: promotion drops it from every set"})
			}
		}
		return nil
	})
	for _, r := range results {
		stuck = append(stuck, r...)
	}
	return stuck, err
}
