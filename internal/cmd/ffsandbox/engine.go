//go:build ffsandbox

package main

import (
	"context"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

// pinger measures another client's PING latency while work runs.
type pinger struct {
	stop chan struct{}
	done chan [][]time.Duration
}

// startPinger sends PING in a loop, to each address in turn (one client,
// so that measuring a cluster does not add a busy loop per primary to a
// small machine).
func startPinger(addrs ...string) *pinger { return startPingerEvery(0, addrs...) }

// startPingerEvery is startPinger with a PING every interval (0: back to
// back): a client that does some work of its own between commands, as a
// worker does, and does not take a core from the server.
func startPingerEvery(interval time.Duration, addrs ...string) *pinger {
	p := &pinger{stop: make(chan struct{}), done: make(chan [][]time.Duration, 1)}
	var cs []*redis.Client
	for _, a := range addrs {
		cs = append(cs, redis.NewClient(&redis.Options{Addr: a, PoolSize: 1, DisableIdentity: true}))
	}
	go func() {
		ctx := context.Background()
		lat := make([][]time.Duration, len(cs))
		for i := 0; ; i = (i + 1) % len(cs) {
			select {
			case <-p.stop:
				for _, c := range cs {
					c.Close()
				}
				p.done <- lat
				return
			default:
			}
			start := time.Now()
			if cs[i].Ping(ctx).Err() == nil {
				lat[i] = append(lat[i], time.Since(start))
			}
			if interval > 0 {
				time.Sleep(time.Until(start.Add(interval)))
			}
		}
	}()
	return p
}

// Stop ends the loop and returns the latencies seen per address.
func (p *pinger) Stop() [][]time.Duration {
	close(p.stop)
	return <-p.done
}

// engineRun is the engine's algorithm over the backlog while a pinger
// (a PING every interval, 0: back to back) runs against addrs: its wall
// time, its stats and the pinger's latencies per address. nodeFor is
// EnginePromoter's (nil on a single server).
func engineRun(c redis.Cmdable, partitions int, lanes []string, nodeFor func(int) redis.Cmdable, interval time.Duration, addrs ...string) (time.Duration, fftest.EngineStats, [][]time.Duration, error) {
	pg := startPingerEvery(interval, addrs...)
	start := time.Now()
	est, err := fftest.EnginePromoter(context.Background(), c, partitions, lanes, nodeFor)
	wall := time.Since(start)
	return wall, est, pg.Stop(), err
}
