package promote_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// faultBench is one topology the fault tests run on: a single server or a
// cluster of three primaries, every node behind a FaultProxy that ffdelay
// goes through, and direct connections for the test's own reads.
type faultBench struct {
	cluster bool
	// faulted is the proxy of the primary that gets the fault; parts are
	// partitions whose slots that primary owns.
	faulted *fftest.FaultProxy
	parts   []int
	// direct reads and seeds without the proxies; primaries are direct
	// connections to every primary, for INFO commandstats.
	direct    redis.Cmdable
	primaries []*redis.Client
	seeds     []string
	reset     func()
}

const faultPartitions = 16

func standaloneBench(t *testing.T, bin fftest.Binary) *faultBench {
	s, c := fftest.NewFlowFabric(t, bin)
	p, err := fftest.StartFaultProxy(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	b := &faultBench{faulted: p, direct: c, primaries: []*redis.Client{c}, seeds: []string{p.Addr()}}
	for i := 0; i < faultPartitions; i++ {
		b.parts = append(b.parts, i)
	}
	b.reset = func() {
		ctx := context.Background()
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := fftest.SetPartitions(ctx, c, faultPartitions); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func clusterBench(t *testing.T, bin fftest.Binary) *faultBench {
	ctx := context.Background()
	cl, err := fftest.StartCluster(t.TempDir(), bin, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Stop)
	proxies, err := cl.ProxyEveryNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := &faultBench{cluster: true}
	for i, n := range cl.Nodes {
		t.Cleanup(proxies[i].Close)
		c := n.Client()
		t.Cleanup(func() { c.Close() })
		b.primaries = append(b.primaries, c)
		b.seeds = append(b.seeds, proxies[i].Addr())
	}
	// The test's own cluster client reaches the nodes through the proxies
	// too (the nodes announce them), which only ever fault FCALL and EXEC:
	// the test sends neither while a fault is armed.
	cc := cl.Client()
	t.Cleanup(func() { cc.Close() })
	b.direct = cc
	b.faulted = proxies[0]
	for p := 0; p < faultPartitions; p++ {
		n, err := cc.MasterForKey(ctx, "{fp:"+strconv.Itoa(p)+"}")
		if err != nil {
			t.Fatal(err)
		}
		if n.Options().Addr == proxies[0].Addr() {
			b.parts = append(b.parts, p)
		}
	}
	if len(b.parts) == 0 {
		t.Fatalf("none of the first %d partitions is on %s", faultPartitions, cl.Nodes[0].Addr)
	}
	b.reset = func() {
		if err := cl.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if err := fftest.SetPartitions(ctx, cc, faultPartitions); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// fcalls sums the FCALLs the primaries ran since their stats were reset.
func (b *faultBench) fcalls(t *testing.T) int64 {
	t.Helper()
	var n int64
	for _, c := range b.primaries {
		info, err := c.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		n += fftest.CommandCalls(info, "fcall")
	}
	return n
}

func (b *faultBench) resetStats(t *testing.T) {
	t.Helper()
	for _, c := range b.primaries {
		if err := c.ConfigResetStat(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// client is ffdelay's client through the proxies.
func (b *faultBench) client(t *testing.T) *redisops.Client {
	oc := redisops.New(redisops.Options{Addrs: b.seeds, Cluster: b.cluster, Timeout: 5 * time.Second})
	t.Cleanup(func() { oc.Close() })
	return oc
}

// seed writes n executions of shape over the faulted primary's partitions.
func (b *faultBench) seed(t *testing.T, n int, shape fftest.Shape) []fftest.Exec {
	t.Helper()
	ctx := context.Background()
	execs := make([]fftest.Exec, n)
	for i := range execs {
		execs[i] = fftest.Exec{Partition: b.parts[i%len(b.parts)], Shape: shape}
	}
	now, err := fftest.ServerNowMs(ctx, b.primaries[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fftest.Seed(ctx, b.direct, now, execs); err != nil {
		t.Fatal(err)
	}
	return execs
}

// inEligible counts the executions the server holds in their eligible set.
func (b *faultBench) inEligible(t *testing.T, execs []fftest.Exec) int64 {
	t.Helper()
	var n int64
	for _, e := range execs {
		err := b.direct.ZScore(context.Background(), redisops.EligibleKey(e.Partition, "default"), e.ID).Err()
		if err == nil {
			n++
		} else if !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
	}
	return n
}

// promoteOnce runs the engine once over the bench's partitions in one
// batch per primary and returns its results, totals and error.
func promoteOnce(t *testing.T, oc *redisops.Client, repair bool) ([]model.Result, model.PromoteTotals, error) {
	t.Helper()
	ctx := context.Background()
	run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(faultPartitions, "default"), BatchSize: 64, Pipelines: 1, Repair: repair})
	if err != nil {
		t.Fatal(err)
	}
	var results []model.Result
	var totals model.PromoteTotals
	err = run.Execute(ctx, func(r model.Result) {
		results = append(results, r)
		totals.AddResult(r)
	})
	return results, totals, err
}

// TestFaultOutcomes injects each fault into the middle of a batch of
// FCALLs (or a repair's EXEC), on a single server and on a cluster, and
// holds ffdelay's words to what the server did, read from its own counters
// and sets: every execution got exactly one outcome, the function ran at
// most once per execution (no library re-send), promoted means the server
// promoted it, a refused call is not_sent and still due, a lost reply is
// unconfirmed, every execution is in exactly one set, and a second run
// promotes the rest.
func TestFaultOutcomes(t *testing.T) { fftest.EachServer(t, testFaultOutcomes) }

func testFaultOutcomes(t *testing.T, bin fftest.Binary) {
	for _, topo := range []struct {
		name  string
		start func(*testing.T, fftest.Binary) *faultBench
	}{{"standalone", standaloneBench}, {"cluster", clusterBench}} {
		t.Run(topo.name, func(t *testing.T) {
			b := topo.start(t, bin)
			// A redirect points at a listener of the test's: ffdelay must
			// never dial it.
			elsewhere, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer elsewhere.Close()
			dialed := make(chan struct{}, 16)
			go func() {
				for {
					c, err := elsewhere.Accept()
					if err != nil {
						return
					}
					c.Close()
					dialed <- struct{}{}
				}
			}()
			redirectKind := redisops.KindRedirect
			if b.cluster {
				// A MOVED on a primary's own connection is a changed layout.
				redirectKind = redisops.KindLayoutChanged
			}
			for _, tc := range []struct {
				name  string
				fault fftest.FCallFault
				kind  redisops.Kind
			}{
				{"cut after 5 ran", fftest.FCallFault{After: 4, Cut: true}, redisops.KindUnreachable},
				{"LOADING", fftest.FCallFault{After: 5, Reply: "LOADING Redis is loading the dataset in memory"}, redisops.KindUnreachable},
				{"TRYAGAIN", fftest.FCallFault{After: 5, Reply: "TRYAGAIN Multiple keys request during rehashing of slot"}, redisops.KindUnreachable},
				{"CLUSTERDOWN", fftest.FCallFault{After: 5, Reply: "CLUSTERDOWN The cluster is down"}, redisops.KindUnreachable},
				{"MOVED", fftest.FCallFault{After: 5, Reply: "MOVED 1234 " + elsewhere.Addr().String()}, redirectKind},
				{"ASK", fftest.FCallFault{After: 5, Reply: "ASK 1234 " + elsewhere.Addr().String()}, redirectKind},
				{"NOPERM", fftest.FCallFault{After: 5, Reply: "NOPERM this user has no permissions to run the 'fcall' command"}, redisops.KindNoPerm},
			} {
				t.Run(tc.name, func(t *testing.T) {
					b.reset()
					const n = 20
					execs := b.seed(t, n, fftest.Due)
					b.resetStats(t)
					b.faulted.FaultFCall(tc.fault)
					results, totals, err := promoteOnce(t, b.client(t), false)
					if !b.faulted.FCallFaultFired() {
						t.Fatalf("the fault never fired (results %+v)", totals)
					}
					if err == nil || redisops.KindOf(err) != tc.kind {
						t.Fatalf("run error %v (kind %v), want kind %v", err, redisops.KindOf(err), tc.kind)
					}
					ran := b.fcalls(t)
					promoted := b.inEligible(t, execs)
					checkOneEach(t, execs, results, totals)
					if tc.fault.Cut {
						// The proxy let After+1 FCALLs through; no reply came back.
						if ran != int64(tc.fault.After+1) || promoted != ran {
							t.Errorf("the server ran %d FCALLs and promoted %d, want %d of each (a re-sent pipeline runs more)", ran, promoted, tc.fault.After+1)
						}
						if totals.Promoted > promoted || promoted > totals.Promoted+totals.Unconfirmed || totals.NotSent != 0 {
							t.Errorf("totals %+v do not bracket the %d the server promoted", totals, promoted)
						}
					} else {
						// One call answered in the function's place; every other
						// call of the batch ran, once.
						if ran != n-1 || promoted != n-1 {
							t.Errorf("the server ran %d FCALLs and promoted %d, want %d", ran, promoted, n-1)
						}
						if totals.NotSent != 1 || totals.Promoted != n-1 || totals.Unconfirmed != 0 {
							t.Errorf("totals %+v, want 1 not_sent and %d promoted", totals, n-1)
						}
					}
					if err := fftest.CheckInvariant(context.Background(), b.direct, execs); err != nil {
						t.Error(err)
					}
					select {
					case <-dialed:
						t.Fatalf("ffdelay connected to the redirect's address")
					default:
					}
					// The second run promotes exactly what the first left.
					_, again, err := promoteOnce(t, b.client(t), false)
					if err != nil {
						t.Fatal(err)
					}
					if again.Promoted != n-promoted || b.inEligible(t, execs) != n || b.fcalls(t) != n {
						t.Errorf("second run promoted %d (want %d); now %d eligible, %d FCALLs in all (want %d each)", again.Promoted, n-promoted, b.inEligible(t, execs), b.fcalls(t), n)
					}
					if err := fftest.CheckInvariant(context.Background(), b.direct, execs); err != nil {
						t.Error(err)
					}
				})
			}
			t.Run("cut while a repair's EXEC is in flight", func(t *testing.T) {
				b.reset()
				execs := b.seed(t, 3, fftest.NoDelayUntil)
				b.resetStats(t)
				b.faulted.FaultFCall(fftest.FCallFault{Command: "exec", Cut: true})
				results, totals, err := promoteOnce(t, b.client(t), true)
				if !b.faulted.FCallFaultFired() {
					t.Fatal("the fault never fired")
				}
				if redisops.FateOf(err) != redisops.MayHaveRun {
					t.Fatalf("run error %v, want a lost connection", err)
				}
				if totals.Unconfirmed != 1 || b.fcalls(t) != 1 || b.inEligible(t, execs) != 1 {
					t.Errorf("totals %+v with %d FCALLs run and %d eligible: want the one repair whose reply was lost unconfirmed, and applied", totals, b.fcalls(t), b.inEligible(t, execs))
				}
				for _, r := range results {
					if r.Outcome == model.Repaired || r.Outcome == model.Promoted {
						t.Errorf("%s reported %s after its connection was cut", r.ExecutionID, r.Outcome)
					}
				}
				if err := fftest.CheckInvariant(context.Background(), b.direct, execs); err != nil {
					t.Error(err)
				}
				_, again, err := promoteOnce(t, b.client(t), true)
				if err != nil {
					t.Fatal(err)
				}
				if again.Repaired != 2 || b.inEligible(t, execs) != 3 || b.fcalls(t) != 3 {
					t.Errorf("second run %+v; %d eligible and %d FCALLs in all, want 2 repaired, 3 and 3", again, b.inEligible(t, execs), b.fcalls(t))
				}
			})
		})
	}
}

// checkOneEach asserts that the run gave every seeded execution exactly
// one result and that its totals add up to the results.
func checkOneEach(t *testing.T, execs []fftest.Exec, results []model.Result, totals model.PromoteTotals) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range results {
		seen[r.ExecutionID]++
	}
	for _, e := range execs {
		if seen[e.ID] != 1 {
			t.Errorf("%s has %d results, want 1", e.ID, seen[e.ID])
		}
	}
	if len(results) != len(execs) {
		t.Errorf("%d results for %d executions", len(results), len(execs))
	}
	if totals.Examined != int64(len(results)) || totals.Sum() != totals.Examined {
		t.Errorf("totals %+v: examined %d, sum %d, results %d", totals, totals.Examined, totals.Sum(), len(results))
	}
}
