package redisops_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// The client's side of the hot path, against a real server: one pipelined
// core read of 256 executions and one FCALL batch of 64. -benchmem's
// allocations are all ffdelay's (and go-redis's); the time includes the
// server's. Compare runs with benchstat.

func benchClient(b *testing.B) (*redisops.Client, *redisops.Shard, *redis.Client) {
	b.Helper()
	bins, err := fftest.Binaries()
	if err != nil {
		b.Fatal(err)
	}
	s, rc := fftest.NewFlowFabric(b, bins[0])
	c := redisops.New(redisops.Options{Addrs: []string{s.Addr}, Timeout: 5 * time.Second})
	b.Cleanup(func() { c.Close() })
	shards, err := c.Shards(context.Background(), []int{0})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.ReadClocks(context.Background(), shards, nil); err != nil {
		b.Fatal(err)
	}
	return c, shards[0], rc
}

func parse(b *testing.B, raw []string) []model.ExecutionID {
	out := make([]model.ExecutionID, len(raw))
	for i, r := range raw {
		id, err := model.ParseExecutionID(r)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = id
	}
	return out
}

func BenchmarkReadCores256(b *testing.B) {
	c, sh, rc := benchClient(b)
	ctx := context.Background()
	now, err := fftest.ServerNowMs(ctx, rc)
	if err != nil {
		b.Fatal(err)
	}
	execs := make([]fftest.Exec, 256)
	for i := range execs {
		execs[i] = fftest.Exec{Partition: 0, Shape: fftest.Due}
	}
	raw, err := fftest.Seed(ctx, rc, now, execs)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]redisops.CoreRequest, len(raw))
	for i, id := range parse(b, raw) {
		reqs[i] = redisops.CoreRequest{ID: id, Lane: "default"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ReadCores(ctx, sh, reqs, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(reqs)), "ns/core")
}

// The executions have no core: the function answers not_found_cleaned,
// a reply of the same shape as promoted, and the batch can be sent again.
func BenchmarkPromoteBatch64(b *testing.B) {
	c, sh, _ := benchClient(b)
	raw := make([]string, 64)
	for i := range raw {
		raw[i] = fftest.NewID(0)
	}
	items := make([]redisops.PromoteItem, len(raw))
	for i, id := range parse(b, raw) {
		items[i] = redisops.PromoteItem{ID: id, Lane: "default"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.PromoteBatch(ctx, sh, items)
		if err != nil {
			b.Fatal(err)
		}
		if out[0].Outcome != model.NotFoundCleaned {
			b.Fatalf("outcome %s", out[0].Outcome)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(items)), "ns/call")
}
