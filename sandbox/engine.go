package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

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
