package redisops_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// proxiedBench is a server with the fixture library, a FaultProxy in front
// of it that counts round trips, and ffdelay's client through the proxy.
func proxiedBench(b *testing.B) (*redisops.Client, *fftest.FaultProxy, *redis.Client) {
	b.Helper()
	bins, err := fftest.Binaries()
	if err != nil {
		b.Fatal(err)
	}
	s, rc := fftest.NewFlowFabric(b, bins[0])
	p, err := fftest.StartFaultProxy(s.Addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	c := redisops.New(redisops.Options{Addrs: []string{p.Addr()}, Timeout: 5 * time.Second})
	b.Cleanup(func() { c.Close() })
	return c, p, rc
}

// serverUsec is the server's time in the commands named, since the last
// CONFIG RESETSTAT.
func serverUsec(b *testing.B, rc *redis.Client, cmds ...string) int64 {
	b.Helper()
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var usec int64
	for _, c := range cmds {
		usec += fftest.ParseCommandStat(info, c).Usec
	}
	return usec
}

// forecast's cost for 256 partitions x 4 lanes in 12 steps, every set not
// empty: the server's time and the round trips of one forecast, with 10
// and with 1,000 members per set (the cost follows the sets and the steps,
// not the executions).
func BenchmarkForecast256x4x12(b *testing.B) {
	for _, members := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			c, p, rc := proxiedBench(b)
			ctx := context.Background()
			now, err := fftest.ServerNowMs(ctx, rc)
			if err != nil {
				b.Fatal(err)
			}
			lanes := []string{"default", "payments", "reports", "batch"}
			scope := model.Scope{Count: 256, Lanes: lanes}
			for part := 0; part < 256; part++ {
				scope.Partitions = append(scope.Partitions, part)
				pipe := rc.Pipeline()
				for _, l := range lanes {
					zs := make([]redis.Z, members)
					for i := range zs {
						// Spread over two hours from a minute ago.
						zs[i] = redis.Z{Score: float64(now - 60_000 + int64(i)*7_200_000/int64(members)), Member: "{fp:" + strconv.Itoa(part) + "}:m" + strconv.Itoa(i)}
					}
					pipe.ZAdd(ctx, redisops.DelayedKey(part, l), zs...)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			grid := func(now int64) []int64 {
				ends := make([]int64, 12)
				for i := range ends {
					ends[i] = now + int64(i+1)*300_000
				}
				return ends
			}
			if _, err := c.Forecast(ctx, scope, nil, grid); err != nil {
				b.Fatal(err)
			}
			rc.ConfigResetStat(ctx)
			trips := p.RoundTrips()
			for b.Loop() {
				fc, err := c.Forecast(ctx, scope, nil, grid)
				if err != nil {
					b.Fatal(err)
				}
				if fc.Sets != 1024 {
					b.Fatalf("%d sets read, want 1024", fc.Sets)
				}
			}
			b.ReportMetric(float64(serverUsec(b, rc, "zcount", "zcard", "time"))/float64(b.N), "server-us/op")
			b.ReportMetric(float64(p.RoundTrips()-trips)/float64(b.N), "round-trips/op")
		})
	}
}

// The walk that finds lanes outside a standby's scope: one complete walk
// of a keyspace of 100,000 keys (cores, sets and a few delayed sets), its
// SCAN steps of COUNT 1000 per 1,000 keys, as the server's time and round
// trips.
func BenchmarkWalk100kKeys(b *testing.B) {
	c, p, rc := proxiedBench(b)
	ctx := context.Background()
	const keys = 100_000
	for start := 0; start < keys; start += 5000 {
		pipe := rc.Pipeline()
		for i := start; i < start+5000; i++ {
			if i%1000 == 0 {
				pipe.ZAdd(ctx, redisops.DelayedKey(i%256, "lane"+strconv.Itoa(i/1000)), redis.Z{Score: 1, Member: "x"})
				continue
			}
			pipe.Set(ctx, "ff:exec:{fp:"+strconv.Itoa(i%256)+"}:k"+strconv.Itoa(i)+":core", "v", 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	rc.ConfigResetStat(ctx)
	trips := p.RoundTrips()
	for b.Loop() {
		var w redisops.DelayedSetWalk
		for {
			done, err := c.StepWalk(ctx, &w, 4)
			if err != nil {
				b.Fatal(err)
			}
			if done {
				break
			}
		}
		if n := len(w.Sets()); n != keys/1000 {
			b.Fatalf("the walk found %d delayed sets, want %d", n, keys/1000)
		}
	}
	b.ReportMetric(float64(serverUsec(b, rc, "scan"))/float64(b.N)/(keys/1000), "server-us/1k-keys")
	b.ReportMetric(float64(p.RoundTrips()-trips)/float64(b.N)/(keys/1000), "round-trips/1k-keys")
}
