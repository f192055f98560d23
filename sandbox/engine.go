package main

import (
	"context"
	"strconv"
	"time"

	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// engineAlgorithm is FlowFabric's own delayed promoter as the spec describes
// it, the baseline ffdelay is measured against: partitions one after
// another; per partition TIME; per lane ZRANGEBYSCORE delayed -inf now LIMIT
// 0 50 and one awaited FCALL per due id. Cycles run back to back until a
// cycle finds nothing due. It returns the number of FCALLs and cycles.
func engineAlgorithm(ctx context.Context, c redis.Cmdable, partitions int, lanes []string, nodeFor func(p int) redis.Cmdable) (calls, cycles int, err error) {
	for {
		cycles++
		found := 0
		for p := 0; p < partitions; p++ {
			node := c
			if nodeFor != nil {
				node = nodeFor(p)
			}
			t, err := node.Time(ctx).Result()
			if err != nil {
				return calls, cycles, err
			}
			now := strconv.FormatInt(t.UnixMilli(), 10)
			for _, lane := range lanes {
				ids, err := c.ZRangeByScore(ctx, redisops.DelayedKey(p, lane), &redis.ZRangeBy{Min: "-inf", Max: now, Count: 50}).Result()
				if err != nil {
					return calls, cycles, err
				}
				for _, id := range ids {
					found++
					calls++
					keys := []string{redisops.CoreKey(p, id), redisops.DelayedKey(p, lane), redisops.EligibleKey(p, lane)}
					if err := c.FCall(ctx, redisops.PromoteFunction, keys, id, now).Err(); err != nil {
						return calls, cycles, err
					}
				}
			}
		}
		if found == 0 {
			return calls, cycles, nil
		}
	}
}

// pinger measures another client's PING latency while work runs.
type pinger struct {
	stop chan struct{}
	done chan []time.Duration
}

func startPinger(addr string) *pinger {
	p := &pinger{stop: make(chan struct{}), done: make(chan []time.Duration, 1)}
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, DisableIdentity: true})
	go func() {
		defer c.Close()
		ctx := context.Background()
		var lat []time.Duration
		for {
			select {
			case <-p.stop:
				p.done <- lat
				return
			default:
			}
			start := time.Now()
			if c.Ping(ctx).Err() == nil {
				lat = append(lat, time.Since(start))
			}
		}
	}()
	return p
}

func (p *pinger) Stop() []time.Duration {
	close(p.stop)
	return <-p.done
}
