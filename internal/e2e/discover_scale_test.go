package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// Tenants can create many lanes. --discover-lanes probes each discovered
// lane only in the partitions where its set exists, so the server's work
// follows the sets that exist (the commands counted by INFO commandstats),
// not lanes times partitions; a cap bounds it with a warning.
func TestDiscoverLanesScale(t *testing.T) {
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) {
		s, c := fftest.NewFlowFabric(t, server)
		ctx := context.Background()
		const partitions, lanes = 64, 20_000
		if err := fftest.SetPartitions(ctx, c, partitions); err != nil {
			t.Fatal(err)
		}
		now, err := fftest.ServerNowMs(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for start := 0; start < lanes; start += 1000 {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < start+1000; i++ {
					p.ZAdd(ctx, redisops.DelayedKey(i%partitions, fmt.Sprintf("tenant-%05d", i)), redis.Z{Score: float64(now - 1000), Member: fftest.NewID(i % partitions)})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		run := func(args ...string) (map[string]any, string) {
			t.Helper()
			if err := c.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, append(args, "--url", "redis://"+s.Addr, "-o", "json")...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if code := exitCodeOf(cmd.Run()); code != 0 {
				t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
			}
			var doc map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			return doc, stderr.String()
		}
		doc, _ := run("list", "--discover-lanes", "--max-discovered-lanes", "50000")
		totals := doc["totals"].(map[string]any)
		if totals["due"].(float64) != lanes {
			t.Fatalf("list found %v due, want %d", totals["due"], lanes)
		}
		info := c.Info(ctx, "commandstats").Val()
		// One ZCARD per group read: the 20,000 discovered sets plus the
		// default lane in each partition, not 20,000 x 64.
		if got := fftest.ParseCommandStat(info, "zcard").Calls; got > lanes+partitions {
			t.Errorf("ZCARD called %d times for %d sets: discovered lanes were probed in every partition", got, lanes)
		}
		_, stderr := run("list", "--discover-lanes", "--max-discovered-lanes", "100")
		if !strings.Contains(stderr, "found 20000 lanes nobody registered; working the first 100 in name order and leaving 19900 out") {
			t.Errorf("no cap warning: %s", stderr)
		}
		if got := fftest.ParseCommandStat(c.Info(ctx, "commandstats").Val(), "zcard").Calls; got > 100+partitions {
			t.Errorf("ZCARD called %d times with a cap of 100 lanes", got)
		}
	})
}
