package e2e

import (
	"context"
	"testing"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

// ffServer starts a server with the fixture library, partitions and, when
// given, the lanes registered; both are stopped with the test.
func ffServer(t *testing.T, server fftest.Binary, partitions int, lanes ...string) (*fftest.Server, *redis.Client) {
	t.Helper()
	s, c := fftest.NewFlowFabric(t, server)
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, partitions); err != nil {
		t.Fatal(err)
	}
	if len(lanes) > 0 {
		if err := fftest.RegisterLanes(ctx, c, lanes...); err != nil {
			t.Fatal(err)
		}
	}
	return s, c
}

// ffCluster starts 3 primaries with the fixture library and partitions;
// it stops with the test.
func ffCluster(t *testing.T, server fftest.Binary, partitions int) (*fftest.Cluster, *redis.ClusterClient) {
	t.Helper()
	cl, err := fftest.StartCluster(t.TempDir(), server, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Stop)
	ctx := context.Background()
	if err := cl.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	cc := cl.Client()
	t.Cleanup(func() { cc.Close() })
	if err := fftest.SetPartitions(ctx, cc, partitions); err != nil {
		t.Fatal(err)
	}
	return cl, cc
}

// seedNow seeds execs as FlowFabric writes them, at the server's clock,
// and returns their ids.
func seedNow(t *testing.T, c redis.Cmdable, execs ...fftest.Exec) []string {
	t.Helper()
	return fftest.SeedNow(t, c, execs)
}
