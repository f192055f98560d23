package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/redis/go-redis/v9"
)

// TestRealFunctionStates creates executions through each FlowFabric
// release's own functions (create with a delay, create with a past
// delay_until, a worker's delay, a retry backoff with a fractional score,
// a resume with a delay) and runs ffdelay on what they leave behind, on
// every server of the matrix.
func TestRealFunctionStates(t *testing.T) {
	libs, note, err := fftest.Releases()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		fftest.Skip(t, note)
	}
	t.Log(note)
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) {
		for _, lib := range libs {
			t.Run(lib.Name, func(t *testing.T) {
				t.Parallel()
				testRealFunctionStates(t, bin, server, lib)
			})
		}
	})
}

// realStates is what one scenario created, by shape.
type realStates struct {
	due, future, misindexed, workerDelay, retry, resumed []*fftest.RealExec
}

func (s realStates) all() []*fftest.RealExec {
	var out []*fftest.RealExec
	for _, l := range [][]*fftest.RealExec{s.due, s.future, s.misindexed, s.workerDelay, s.retry, s.resumed} {
		out = append(out, l...)
	}
	return out
}

func createRealStates(t *testing.T, ctx context.Context, f *fftest.Functions, c *redis.Client) realStates {
	t.Helper()
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	soon := strconv.FormatInt(now+60, 10)
	var s realStates
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for p := 0; p < 3; p++ {
		e := fftest.NewRealExec(p, "default", p)
		must(f.Create(ctx, e, soon))
		s.due = append(s.due, e)
	}
	e := fftest.NewRealExec(1, "default", 0)
	must(f.Create(ctx, e, strconv.FormatInt(now+3_600_000, 10)))
	s.future = append(s.future, e)
	e = fftest.NewRealExec(2, "default", 2)
	must(f.Create(ctx, e, strconv.FormatInt(now-1000, 10)))
	s.misindexed = append(s.misindexed, e)
	e = fftest.NewRealExec(3, "default", 1)
	must(f.Create(ctx, e, ""))
	must(f.Claim(ctx, e))
	must(f.Delay(ctx, e, now+60))
	s.workerDelay = append(s.workerDelay, e)
	e = fftest.NewRealExec(0, "default", 0)
	must(f.Create(ctx, e, ""))
	must(f.Claim(ctx, e))
	must(f.Retry(ctx, e))
	s.retry = append(s.retry, e)
	e = fftest.NewRealExec(1, "default", 0)
	must(f.Create(ctx, e, ""))
	must(f.Claim(ctx, e))
	must(f.SuspendAndResume(ctx, e, 60))
	s.resumed = append(s.resumed, e)
	return s
}

// checkRealShapes asserts that the functions left the shapes the spec
// describes, so the rest of the test is about those shapes.
func checkRealShapes(t *testing.T, ctx context.Context, c *redis.Client, s realStates) {
	t.Helper()
	core := func(e *fftest.RealExec, field string) string {
		return c.HGet(ctx, redisops.CoreKey(e.Partition, e.ID), field).Val()
	}
	score := func(e *fftest.RealExec) (float64, bool) {
		v, err := c.ZScore(ctx, redisops.DelayedKey(e.Partition, e.Lane), e.ID).Result()
		return v, err == nil
	}
	for _, e := range append(append(append([]*fftest.RealExec{}, s.due...), s.workerDelay...), s.retry...) {
		if _, ok := score(e); !ok || core(e, "eligibility_state") != "not_eligible_until_time" {
			t.Fatalf("%s: not delayed: in set %v, core %s", e.ID, ok, core(e, "eligibility_state"))
		}
	}
	m := s.misindexed[0]
	sc, ok := score(m)
	created, _ := strconv.ParseFloat(core(m, "created_at"), 64)
	if !ok || core(m, "eligibility_state") != "eligible_now" || sc != -2e12+created {
		t.Fatalf("misindexed shape not made: in delayed %v score %v, core %s", ok, sc, core(m, "eligibility_state"))
	}
	if sc, _ := score(s.retry[0]); sc == math.Trunc(sc) {
		t.Fatalf("retry backoff score %v is not fractional", sc)
	}
	r := s.resumed[0]
	if _, ok := score(r); !ok || core(r, "delay_until") != "" || core(r, "blocking_reason") != "waiting_for_resume_delay" {
		t.Fatalf("resumed shape not made: in delayed %v, delay_until %q, %s", ok, core(r, "delay_until"), core(r, "blocking_reason"))
	}
	if got := core(s.workerDelay[0], "blocking_reason"); got != "waiting_for_delay" {
		t.Fatalf("worker delay: blocking_reason %q", got)
	}
	if got := core(s.retry[0], "blocking_reason"); got != "waiting_for_retry_backoff" {
		t.Fatalf("retry: blocking_reason %q", got)
	}
}

func testRealFunctionStates(t *testing.T, bin string, server fftest.Binary, lib fftest.Library) {
	ctx := context.Background()
	s, err := fftest.StartServer(t.TempDir(), fftest.ServerOptions{Binary: server})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c := s.Client()
	t.Cleanup(func() { c.Close() })
	if _, err := lib.Load(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := fftest.SetPartitions(ctx, c, 4); err != nil {
		t.Fatal(err)
	}
	f, err := fftest.NewFunctions(lib, c)
	if err != nil {
		t.Fatal(err)
	}
	states := createRealStates(t, ctx, f, c)
	checkRealShapes(t, ctx, c, states)
	time.Sleep(100 * time.Millisecond) // the 60 ms delays fall due

	run := func(want int, args ...string) []byte {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append(args, "--url", "redis://"+s.Addr, "-o", "json")...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if code := exitCodeOf(cmd.Run()); code != want {
			t.Fatalf("ffdelay %v: exit %d, want %d; stderr: %s", args, code, want, stderr.String())
		}
		return stdout.Bytes()
	}
	var list struct {
		Totals model.ListTotals `json:"totals"`
	}
	if err := json.Unmarshal(run(0, "list"), &list); err != nil {
		t.Fatal(err)
	}
	// due: 3 plain, the worker's delay, the retry, the resumed one, and the
	// misindexed entry whose eligible-style score is in the past.
	if list.Totals.Due != 7 || list.Totals.Delayed != 8 {
		t.Errorf("list totals %+v, want 7 due of 8 delayed", list.Totals)
	}

	// A dry run predicts (exit 0); promote exits 1 on needs_repair.
	outcomes := func(code int, args ...string) map[string]string {
		var doc struct {
			Results []model.Result `json:"results"`
		}
		if err := json.Unmarshal(run(code, args...), &doc); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range doc.Results {
			out[r.ExecutionID] = string(r.Outcome)
		}
		return out
	}
	want := func(got map[string]string, execs []*fftest.RealExec, outcome string) {
		t.Helper()
		for _, e := range execs {
			if got[e.ID] != outcome {
				t.Errorf("%s: outcome %q, want %q", e.ID, got[e.ID], outcome)
			}
		}
	}
	dry := outcomes(0, "promote", "--dry-run")
	want(dry, states.due, "would_promote")
	want(dry, states.workerDelay, "would_promote")
	want(dry, states.retry, "would_promote")
	want(dry, states.misindexed, "would_repair")
	want(dry, states.resumed, "would_repair")

	got := outcomes(1, "promote")
	want(got, states.due, "promoted")
	want(got, states.workerDelay, "promoted")
	want(got, states.retry, "promoted")
	want(got, states.misindexed, "needs_repair")
	want(got, states.resumed, "needs_repair")
	if _, ok := got[states.future[0].ID]; ok {
		t.Errorf("the future execution was handled: %s", got[states.future[0].ID])
	}
	if err := fftest.CheckRealInvariant(ctx, c, states.all()); err != nil {
		t.Error(err)
	}

	// --repair fixes both shapes atomically; then a worker can claim them.
	var doc struct {
		Results []model.Result      `json:"results"`
		Totals  model.PromoteTotals `json:"totals"`
	}
	if err := json.Unmarshal(run(0, "promote", "--repair"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Totals.Repaired != 2 || doc.Totals.Failed != 0 {
		t.Errorf("promote --repair totals %+v, want 2 repaired and nothing failed", doc.Totals)
	}
	if err := fftest.CheckRealInvariant(ctx, c, states.all()); err != nil {
		t.Error(err)
	}
	for _, e := range states.misindexed {
		if err := f.Claim(ctx, e); err != nil {
			t.Errorf("a worker cannot claim the repaired %s: %v", e.ID, err)
		}
	}
	for _, e := range states.resumed {
		if err := f.ClaimResumed(ctx, e); err != nil {
			t.Errorf("a worker cannot claim the repaired %s: %v", e.ID, err)
		}
	}
}
