package promote_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// server starts a server of bin with the fixture library for one test.
func server(t testing.TB, bin fftest.Binary) (*fftest.Server, *redis.Client, *redisops.Client) {
	t.Helper()
	s, c := fftest.NewFlowFabric(t, bin)
	oc := redisops.New(redisops.Options{Addrs: []string{s.Addr}, Timeout: 5 * time.Second})
	t.Cleanup(func() { oc.Close() })
	return s, c, oc
}

func seed(t testing.TB, c redis.Cmdable, execs []fftest.Exec) []string {
	t.Helper()
	return fftest.SeedNow(t, c, execs)
}

func scope(count int, lanes ...string) model.Scope {
	s := model.Scope{Count: count, Lanes: lanes}
	for p := 0; p < count; p++ {
		s.Partitions = append(s.Partitions, p)
	}
	return s
}

func runPromote(t *testing.T, oc *redisops.Client, opts promote.Options) (model.PromoteTotals, []model.Result) {
	t.Helper()
	ctx := context.Background()
	run, err := promote.Plan(ctx, oc, opts)
	if err != nil {
		t.Fatal(err)
	}
	var totals model.PromoteTotals
	var results []model.Result
	err = run.Execute(ctx, func(r model.Result) {
		totals.Add(r.Outcome)
		results = append(results, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	return totals, results
}

// More stayers than one page holds sit in front of the due entries: the
// cursor steps over them page after page and every due entry is promoted.
func TestPromoteStepsOverManyStuckEntries(t *testing.T) {
	fftest.EachServer(t, testPromoteStepsOverManyStuckEntries)
}

func testPromoteStepsOverManyStuckEntries(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	var execs []fftest.Exec
	// 1,800 stayers: more than one page (1,024) of them.
	execs = append(execs, fftest.Many(1300, fftest.Exec{Partition: 0, Shape: fftest.NoDelayUntil, OffsetMs: -900_000})...)
	execs = append(execs, fftest.Many(500, fftest.Exec{Partition: 0, Shape: fftest.StaleScore, OffsetMs: -800_000})...)
	execs = append(execs, fftest.Many(1500, fftest.Exec{Partition: 0, Shape: fftest.Due, OffsetMs: -1000, Priority: 3})...)
	seed(t, c, execs)
	totals, _ := runPromote(t, oc, promote.Options{Scope: scope(1, "default")})
	want := model.PromoteTotals{Promoted: 1500, NotYetDue: 500, Failed: 1300, NeedsRepair: 1300, Examined: 3300}
	if totals != want {
		t.Errorf("totals = %+v, want %+v", totals, want)
	}
	if err := fftest.CheckInvariant(context.Background(), c, execs); err != nil {
		t.Error(err)
	}
}

// --limit is exact even with two workers per shard and many sets.
func TestPromoteLimitIsExact(t *testing.T) { fftest.EachServer(t, testPromoteLimitIsExact) }

func testPromoteLimitIsExact(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	var execs []fftest.Exec
	for p := 0; p < 16; p++ {
		execs = append(execs, fftest.Many(40, fftest.Exec{Partition: p, Shape: fftest.Due})...)
	}
	seed(t, c, execs)
	for _, limit := range []int64{1, 63, 64, 65, 333} {
		totals, _ := runPromote(t, oc, promote.Options{Scope: scope(16, "default"), Limit: limit, BatchSize: 7})
		if totals.Promoted != limit {
			t.Errorf("limit %d: promoted %d", limit, totals.Promoted)
		}
	}
	if err := fftest.CheckInvariant(context.Background(), c, execs); err != nil {
		t.Error(err)
	}
}

// Every due execution gets exactly one result, also across pages.
func TestPromoteOneResultEach(t *testing.T) { fftest.EachServer(t, testPromoteOneResultEach) }

func testPromoteOneResultEach(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ids := seed(t, c, fftest.Many(2500, fftest.Exec{Partition: 3, Shape: fftest.Retry}))
	_, results := runPromote(t, oc, promote.Options{Scope: scope(4, "default"), BatchSize: 50})
	seen := map[string]int{}
	for _, r := range results {
		seen[r.ExecutionID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("%s has %d results", id, seen[id])
		}
	}
}

// A delayed set of the wrong type is reported against the set, and the
// other sets are still worked.
func TestPromoteWrongTypeSet(t *testing.T) { fftest.EachServer(t, testPromoteWrongTypeSet) }

func testPromoteWrongTypeSet(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ctx := context.Background()
	c.Set(ctx, redisops.DelayedKey(1, "default"), "not a zset", 0)
	seed(t, c, fftest.Many(5, fftest.Exec{Partition: 2, Shape: fftest.Due}))
	totals, results := runPromote(t, oc, promote.Options{Scope: scope(4, "default")})
	if totals.Promoted != 5 || totals.Failed != 1 {
		t.Fatalf("totals = %+v", totals)
	}
	var found bool
	for _, r := range results {
		if r.Outcome == model.Failed && strings.Contains(r.Error, "WRONGTYPE") && r.Partition == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no WRONGTYPE failure among %+v", results)
	}
}

// A function that answers in an unexpected shape is a failure, never a
// success; the execution stays delayed.
func TestPromoteUnexpectedReplyShape(t *testing.T) {
	fftest.EachServer(t, testPromoteUnexpectedReplyShape)
}

func testPromoteUnexpectedReplyShape(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ctx := context.Background()
	for _, body := range []string{
		`return 'promoted'`,
		`return {1, 'OK'}`,
		`return {1, 'OK', 'teleported'}`,
		`return {0, 'boom', 'detail'}`,
		`return redis.error_reply('WEIRD thing')`,
	} {
		lib := "#!lua name=flowfabric\nredis.register_function('ff_version', function() return '15' end)\n" +
			"redis.register_function('ff_promote_delayed', function(keys, args) " + body + " end)\n"
		if err := c.FunctionLoadReplace(ctx, lib).Err(); err != nil {
			t.Fatal(err)
		}
		execs := fftest.Many(3, fftest.Exec{Partition: 0, Shape: fftest.Due})
		seed(t, c, execs)
		totals, results := runPromote(t, oc, promote.Options{Scope: scope(1, "default")})
		if totals.Failed == 0 || totals.Promoted != 0 {
			t.Errorf("%s: totals %+v", body, totals)
		}
		for _, r := range results {
			if r.Outcome != model.Failed || r.Error == "" {
				t.Errorf("%s: result %+v", body, r)
			}
		}
		c.FlushAll(ctx)
	}
}

// list sends its commands for every group in one pipelined pass, not one
// round trip per group.
func TestListIsPipelined(t *testing.T) { fftest.EachServer(t, testListIsPipelined) }

func testListIsPipelined(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ctx := context.Background()
	seed(t, c, fftest.Many(50, fftest.Exec{Partition: 9, Shape: fftest.Due}))
	run, err := oc.NewList(ctx, scope(256, "default", "a", "b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := clientStats(t, c)
	groups, err := run.Groups(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	after := clientStats(t, c)
	if len(groups) != 1 || groups[0].Due != 50 || len(groups[0].Executions) != 5 {
		t.Fatalf("groups = %+v", groups)
	}
	// 256 partitions x 3 lanes x 3 commands, in very few reads.
	if cmds := after.cmds - before.cmds; cmds < 2304 {
		t.Errorf("only %d commands ran", cmds)
	}
	// One read per group (768) would mean a round trip per group; a
	// pipelined pass costs a few reads of 16 KiB each.
	if reads := after.reads - before.reads; reads > 50 {
		t.Errorf("list took %d reads of the server's socket, want a few", reads)
	}
}

type stats struct{ cmds, reads int64 }

// clientStats reads the server's processed commands and socket reads
// (excluding the INFO call itself, which adds one of each).
func clientStats(t *testing.T, c *redis.Client) stats {
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var s stats
	for _, l := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(l, ":")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "total_commands_processed":
			s.cmds = n
		case "total_reads_processed":
			s.reads = n
		}
	}
	return s
}

// Concurrent runs never promote an execution twice: each promotion is one
// atomic FCALL, and the loser sees not_delayed_cleaned.
func TestConcurrentPromotersPromoteOnce(t *testing.T) {
	fftest.EachServer(t, testConcurrentPromotersPromoteOnce)
}

func testConcurrentPromotersPromoteOnce(t *testing.T, bin fftest.Binary) {
	s, c, _ := server(t, bin)
	ctx := context.Background()
	var execs []fftest.Exec
	for p := 0; p < 8; p++ {
		execs = append(execs, fftest.Many(500, fftest.Exec{Partition: p, Shape: fftest.Due})...)
	}
	seed(t, c, execs)
	var mu sync.Mutex
	var total model.PromoteTotals
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oc := redisops.New(redisops.Options{Addrs: []string{s.Addr}})
			defer oc.Close()
			run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(8, "default")})
			if err != nil {
				t.Error(err)
				return
			}
			err = run.Execute(ctx, func(r model.Result) {
				mu.Lock()
				total.Add(r.Outcome)
				mu.Unlock()
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if total.Promoted != 4000 || total.Failed != 0 {
		t.Errorf("totals = %+v", total)
	}
	if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
		t.Error(err)
	}
}

// A library without ff_promote_delayed (or one that vanished mid-run) is
// not a per-execution failure: the run stops with KindNoLibrary (exit 3).
func TestPromoteMissingFunction(t *testing.T) { fftest.EachServer(t, testPromoteMissingFunction) }

func testPromoteMissingFunction(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ctx := context.Background()
	lib := "#!lua name=flowfabric\nredis.register_function('ff_version', function() return '15' end)\n"
	if err := c.FunctionLoadReplace(ctx, lib).Err(); err != nil {
		t.Fatal(err)
	}
	seed(t, c, fftest.Many(3, fftest.Exec{Partition: 0, Shape: fftest.Due}))
	if err := oc.RequireLibrary(ctx, nil); redisops.KindOf(err) != redisops.KindNoLibrary {
		t.Errorf("RequireLibrary = %v, want KindNoLibrary", err)
	}
	run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(1, "default"), BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	// Every call of the batch was refused before it ran: each is not_sent,
	// and still due (one batch of three: the run stops after it).
	var notSent, other int
	err = run.Execute(ctx, func(r model.Result) {
		if r.Outcome == model.NotSent {
			notSent++
		} else {
			other++
		}
	})
	if redisops.KindOf(err) != redisops.KindNoLibrary || notSent != 3 || other != 0 {
		t.Errorf("Run = %v with %d not_sent and %d other results, want KindNoLibrary and 3 not_sent", err, notSent, other)
	}
	if n := c.ZCard(ctx, redisops.DelayedKey(0, "default")).Val(); n != 3 {
		t.Errorf("%d left in the delayed set, want all 3", n)
	}
}

// Batch sizing remembers what it learned from one run to the next (a watch
// loop's cycles): the second run's first batch is as large as the first
// run's last, not one call again.
func TestBatchSizesCarryOver(t *testing.T) {
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	_, c, oc := server(t, bins[0])
	ctx := context.Background()
	sizes := promote.NewLearnedSizes()
	runOnce := func() model.BatchStats {
		t.Helper()
		seed(t, c, fftest.Many(400, fftest.Exec{Partition: 0, Shape: fftest.Due}))
		run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(1, "default"), Sizes: sizes})
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Execute(ctx, func(model.Result) {}); err != nil {
			t.Fatal(err)
		}
		b := run.Batches()
		return b
	}
	one := runOnce()
	if one.Last < 4 {
		t.Fatalf("the first run's batches stayed at %d: nothing to carry over", one.Last)
	}
	two := runOnce()
	// Max includes the first batch: a run that started from one call again
	// would only reach the learned size after several doublings, and its
	// batch count would be at least as high as the first run's.
	if two.Batches >= one.Batches {
		t.Errorf("second run took %d batches, the first %d: it relearned from a batch of one", two.Batches, one.Batches)
	}
}

// While a batch of FCALLs is in flight the next cores are being read, and
// the next page is read while the cores of the last one are. A proxy
// holds every reply back 3 ms and records the order in which commands and
// replies pass: core reads go out before the replies of the FCALLs sent
// before them, and every page read after the second (which goes out with
// the first cores) goes out while another of ffdelay's commands waits for
// its reply, or together with one, so its round trip is hidden.
// All due members are in one delayed set, with one pipeline of FCALLs (a
// cluster primary's case) as well as with the default two.
func TestReadsOverlapFCalls(t *testing.T) {
	fftest.EachServer(t, testReadsOverlapFCalls)
}

func testReadsOverlapFCalls(t *testing.T, bin fftest.Binary) {
	for _, pipelines := range []int{1, 2} {
		t.Run(strconv.Itoa(pipelines)+" pipelines", func(t *testing.T) {
			s, c, _ := server(t, bin)
			const n = 5000 // five pages
			seed(t, c, fftest.Many(n, fftest.Exec{Partition: 0, Shape: fftest.Due}))
			proxy, err := fftest.StartFaultProxy(s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			proxy.SetLatency(3 * time.Millisecond)
			oc := redisops.New(redisops.Options{Addrs: []string{proxy.Addr()}, Timeout: 5 * time.Second})
			defer oc.Close()
			proxy.Record()
			totals, _ := runPromote(t, oc, promote.Options{Scope: scope(1, "default"), Pipelines: pipelines})
			if totals.Promoted != n {
				t.Fatalf("promoted %d of %d: %+v", totals.Promoted, n, totals)
			}
			// Walk the log keeping, per connection, whether what was sent
			// on it (FCALLs, anything) still waits for its reply.
			events := proxy.Events()
			fcall, busy := map[int]bool{}, map[int]bool{}
			other := func(m map[int]bool, conn int) bool {
				for c, w := range m {
					if w && c != conn {
						return true
					}
				}
				return false
			}
			var cores, coresOverlapped, pages, pagesHidden int
			started := false
			// Two commands that go out together on two connections hide
			// each other's round trip too.
			together := func(i int) bool {
				return i+1 < len(events) && !events[i+1].Reply && events[i+1].Conn != events[i].Conn
			}
			for i, e := range events {
				if e.Reply {
					fcall[e.Conn], busy[e.Conn] = false, false
					continue
				}
				for _, name := range e.Sent {
					switch name {
					case "hmget":
						if started {
							cores++
							if other(fcall, e.Conn) {
								coresOverlapped++
							}
						}
					case "zrangebyscore":
						pages++
						if pages > 2 && (other(busy, e.Conn) || together(i)) {
							pagesHidden++
						}
					case "fcall":
						started, fcall[e.Conn] = true, true
					}
				}
				busy[e.Conn] = true
			}
			t.Logf("%d events; core reads sent while an FCALL waited: %d of %d after the first FCALL; page reads hidden: %d of %d after the second", len(events), coresOverlapped, cores, pagesHidden, pages-2)
			// 58-97% in 160 runs here; reads in series with the FCALLs
			// (the code before) give 0.
			if cores == 0 || coresOverlapped*3 < cores {
				t.Errorf("only %d of %d core reads went out while an FCALL batch waited for its reply", coresOverlapped, cores)
			}
			// All of them, in every run here; reads in series give 0. Half
			// leaves room for a loaded machine that delays a read.
			if pages < 5 || pagesHidden*2 < pages-2 {
				t.Errorf("%d of %d page reads after the second went out while nothing else of ffdelay's was waiting", pages-2-pagesHidden, pages-2)
			}
		})
	}
}

// Thousands of stayers at one score (entries resumed with a delay in one
// burst, all without delay_until) in front of due entries: the reads past
// them go by rank, the due ones are all promoted, and the reads' server
// time does not grow with the square of the stayers.
func TestPromoteStepsOverEqualScoreStayersByRank(t *testing.T) {
	fftest.EachServer(t, testPromoteStepsOverEqualScoreStayersByRank)
}

func testPromoteStepsOverEqualScoreStayersByRank(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ctx := context.Background()
	execs := fftest.Many(6000, fftest.Exec{Partition: 0, Shape: fftest.NoDelayUntil, OffsetMs: -900_000})
	execs = append(execs, fftest.Many(300, fftest.Exec{Partition: 0, Shape: fftest.Due, OffsetMs: -1000})...)
	seed(t, c, execs)
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	totals, _ := runPromote(t, oc, promote.Options{Scope: scope(1, "default")})
	if totals.Promoted != 300 || totals.NeedsRepair != 6000 {
		t.Errorf("totals %+v, want 300 promoted and 6000 needs_repair", totals)
	}
	info := c.Info(ctx, "commandstats").Val()
	if fftest.CommandCalls(info, "zrank") == 0 {
		t.Errorf("no read started by rank past 6000 stayers at one score:\n%s", info)
	}
	// The server's time in the reads, for the record (make bench has the
	// comparison): by offset the pages past the stayers walk 512, 1024,
	// ... 6000 members each.
	t.Logf("zrangebyscore %+v, zrange %+v, zrank %+v", fftest.ParseCommandStat(info, "zrangebyscore"),
		fftest.ParseCommandStat(info, "zrange"), fftest.ParseCommandStat(info, "zrank"))
	if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
		t.Error(err)
	}
}

// A lease lost while a batch waits for its in-flight slot stops that batch
// unsent: the engine asks BeforeWrite with the slot held, right before the
// batch goes out, not when the batch was formed.
func TestLeaseLostWhileABatchWaitsForItsSlot(t *testing.T) {
	fftest.EachServer(t, testLeaseLostWhileABatchWaitsForItsSlot)
}

func testLeaseLostWhileABatchWaitsForItsSlot(t *testing.T, bin fftest.Binary) {
	_, c, oc := server(t, bin)
	ctx := context.Background()
	// Each call spins for a while: the first batch holds the only slot
	// long enough for the test to take the lease away.
	if err := fftest.LoadSlowLibrary(ctx, c, 60_000_000); err != nil {
		t.Fatal(err)
	}
	execs := fftest.Many(6, fftest.Exec{Partition: 0, Shape: fftest.Due})
	seed(t, c, execs)
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	errLost := errors.New("lease lost")
	var lost atomic.Bool
	var first sync.Once
	run, err := promote.Plan(ctx, oc, promote.Options{Scope: scope(1, "default"), BatchSize: 2, Pipelines: 1,
		BeforeWrite: func() error {
			// The lease goes 100ms after the first batch went out, while
			// its two slow calls (hundreds of ms) hold the only slot and
			// the second batch waits for it.
			first.Do(func() { time.AfterFunc(100*time.Millisecond, func() { lost.Store(true) }) })
			if lost.Load() {
				return errLost
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	var totals model.PromoteTotals
	err = run.Execute(ctx, func(r model.Result) { totals.AddResult(r) })
	if !errors.Is(err, errLost) {
		t.Fatalf("run error %v, want the lost lease", err)
	}
	if calls := fftest.CommandCalls(c.Info(ctx, "commandstats").Val(), "fcall"); calls != 2 || totals.Promoted != 2 {
		t.Errorf("%d FCALLs ran and %d were promoted, want the first batch's 2 only", calls, totals.Promoted)
	}
	if err := fftest.CheckInvariant(ctx, c, execs); err != nil {
		t.Error(err)
	}
}
