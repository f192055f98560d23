package fftest

import (
	"context"
	"strconv"

	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// EngineStats counts what EnginePromoter did.
type EngineStats struct {
	Calls, Cycles int
	// Results counts the function's replies by outcome.
	Results map[string]int
}

// EnginePromoter is FlowFabric's own delayed promoter as the spec describes
// it, for baselines and races: partitions one after another; per partition
// TIME; per lane ZRANGEBYSCORE delayed -inf now LIMIT 0 50 and one awaited
// FCALL per due id. Cycles run back to back until a cycle finds nothing
// due. nodeFor, when set, picks the node whose clock a partition uses.
func EnginePromoter(ctx context.Context, c redis.Cmdable, partitions int, lanes []string, nodeFor func(p int) redis.Cmdable) (EngineStats, error) {
	st := EngineStats{Results: map[string]int{}}
	for {
		st.Cycles++
		found := 0
		for p := 0; p < partitions; p++ {
			node := c
			if nodeFor != nil {
				node = nodeFor(p)
			}
			t, err := node.Time(ctx).Result()
			if err != nil {
				return st, err
			}
			now := strconv.FormatInt(t.UnixMilli(), 10)
			for _, lane := range lanes {
				ids, err := c.ZRangeByScore(ctx, redisops.DelayedKey(p, lane), &redis.ZRangeBy{Min: "-inf", Max: now, Count: 50}).Result()
				if err != nil {
					return st, err
				}
				for _, id := range ids {
					found++
					st.Calls++
					keys := []string{redisops.CoreKey(p, id), redisops.DelayedKey(p, lane), redisops.EligibleKey(p, lane)}
					v, err := c.FCall(ctx, redisops.PromoteFunction, keys, id, now).Result()
					o, _ := redisops.DecodePromoteReply(v, err)
					st.Results[string(o)]++
				}
			}
		}
		if found == 0 || ctx.Err() != nil {
			return st, ctx.Err()
		}
	}
}
