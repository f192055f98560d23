package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/redisops"
)

// lockedBuffer is a process's output, read while the process still writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// linesWith counts the lines of s that contain sub.
func linesWith(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// startStandby runs promote --watch --listen with args and returns its
// probe and its stderr.
func startStandby(t *testing.T, bin string, args ...string) (*exec.Cmd, standbyProbe, *lockedBuffer) {
	t.Helper()
	port, err := fftest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sb := standbyProbe{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	var stderr lockedBuffer
	cmd := exec.Command(bin, append([]string{"promote", "--watch", "--listen", sb.addr, "--log-format", "json", "-o", "ndjson"}, args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	within(t, 20*time.Second, "/readyz 200", func() bool { code, _ := sb.get("/readyz"); return code == 200 })
	return cmd, sb, &stderr
}

// A due execution in a lane that ff:idx:lanes does not list (the engine's
// blind spot) is never missed in silence: promote names it on stderr and
// in its JSON; a standby without --discover-lanes exports its due count as
// ffdelay_due_out_of_scope and says so once; with --discover-lanes it
// promotes it.
func TestOutOfScopeLane(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testOutOfScopeLane(t, bin, server) })
}

func testOutOfScopeLane(t *testing.T, bin string, server fftest.Binary) {
	s, c := ffServer(t, server, 8, "default")
	ctx := context.Background()
	ids := seedNow(t, c, fftest.Exec{Partition: 3, Lane: "reports", Shape: fftest.Due, OffsetMs: -60_000},
		fftest.Exec{Partition: 1, Shape: fftest.Due}, fftest.Exec{Partition: 2, Shape: fftest.Due})
	url := "redis://" + s.Addr

	// Once, as a table: the lane and its due count on stderr, exit 0.
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "--url", url)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitCodeOf(cmd.Run()); code != 0 {
		t.Fatalf("promote exit %d; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "reports (1 due)") || !strings.Contains(stderr.String(), "--discover-lanes") {
		t.Errorf("promote's stderr does not name the lane outside the scope:\n%s", stderr.String())
	}
	// Once, as JSON: the same in the document.
	out, err := exec.Command(bin, "promote", "-o", "json", "--url", url).Output()
	if err != nil {
		t.Fatalf("promote -o json: %v", err)
	}
	var doc struct {
		OutOfScope *model.OutOfScope `json:"out_of_scope"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("promote -o json: %v\n%s", err, out)
	}
	if doc.OutOfScope == nil || len(doc.OutOfScope.Lanes) != 1 || doc.OutOfScope.Lanes[0].Lane != "reports" ||
		doc.OutOfScope.Lanes[0].Due != 1 || doc.OutOfScope.Lanes[0].Registered {
		t.Errorf("out_of_scope in promote -o json: %+v, want lane reports, 1 due, unregistered\n%s", doc.OutOfScope, out)
	}

	// A standby without --discover-lanes: the gauge, and one line.
	cmd, sb, logs := startStandby(t, bin, "--interval", "100ms", "--url", url)
	reports := map[string]string{"lane": "reports"}
	within(t, 20*time.Second, "ffdelay_due_out_of_scope{lane=\"reports\"} 1", func() bool { return sb.metric("ffdelay_due_out_of_scope", reports) == 1 })
	cycles := sb.metric("ffdelay_cycle_duration_seconds", nil)
	within(t, 20*time.Second, "ten more cycles", func() bool { return sb.metric("ffdelay_cycle_duration_seconds", nil) >= cycles+10 })
	if n := linesWith(logs.String(), "reports (1 due)"); n != 1 {
		t.Errorf("the standby said %d times that lane reports is outside its scope, want once:\n%s", n, logs.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if n, _ := c.ZCard(ctx, redisops.EligibleKey(3, "reports")).Result(); n != 0 {
		t.Fatalf("a standby without --discover-lanes promoted lane reports")
	}

	// With --discover-lanes it promotes it, and nothing is left outside.
	_, sb, _ = startStandby(t, bin, "--interval", "100ms", "--discover-lanes", "--url", url)
	within(t, 20*time.Second, "lane reports promoted", func() bool {
		return c.ZScore(ctx, redisops.EligibleKey(3, "reports"), ids[0]).Err() == nil
	})
	within(t, 20*time.Second, "nothing due outside the scope", func() bool { return sb.metric("ffdelay_due_out_of_scope", reports) <= 0 })
}

// Two stuck executions under a watch loop at 100ms for 30 s: each is tried
// a handful of times (3, then after 10, 20, 40... cycles), logged once,
// ffdelay_stuck_executions is 2 all along; repaired from another shell, each
// gets one recovery line and the gauge goes back to 0.
func TestStuckBackoff(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testStuckBackoff(t, bin, server) })
}

func testStuckBackoff(t *testing.T, bin string, server fftest.Binary) {
	s, c := ffServer(t, server, 4)
	ids := seedNow(t, c, fftest.Exec{Partition: 0, Shape: fftest.NoDelayUntil}, fftest.Exec{Partition: 1, Shape: fftest.NoDelayUntil})
	url := "redis://" + s.Addr
	cmd, sb, logs := startStandby(t, bin, "--interval", "100ms", "--url", url)
	within(t, 20*time.Second, "ffdelay_stuck_executions 2", func() bool { return sb.metric("ffdelay_stuck_executions", nil) == 2 })
	before := strings.Count(logs.String(), "\n")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if v := sb.metric("ffdelay_stuck_executions", nil); v != 2 {
			t.Fatalf("ffdelay_stuck_executions %v while both are stuck, want 2", v)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// A quiet standby is quiet: trying the same two again is not news.
	if n := strings.Count(logs.String(), "\n") - before; n > 2 {
		t.Errorf("%d log lines in 30 s with nothing new but two stuck executions tried again:\n%s", n, logs.String())
	}
	attempts := sb.metric("ffdelay_promotions_total", map[string]string{"outcome": "needs_repair"})
	if attempts > 2*12 {
		t.Errorf("%v attempts for 2 stuck executions in 30 s at 100ms: want at most 12 each", attempts)
	}
	for _, id := range ids {
		if n := linesWith(logs.String(), id); n > 2 {
			t.Errorf("%d log lines name %s in 30 s, want at most 2", n, id)
		}
	}

	fix := exec.Command(bin, "promote", "--repair", "--url", url)
	if out, err := fix.CombinedOutput(); err != nil {
		t.Fatalf("promote --repair: %v\n%s", err, out)
	}
	within(t, 30*time.Second, "ffdelay_stuck_executions 0 after the repair", func() bool { return sb.metric("ffdelay_stuck_executions", nil) == 0 })
	within(t, 5*time.Second, "two recovery lines", func() bool { return linesWith(logs.String(), "no longer stuck") == 2 })
	if n := linesWith(logs.String(), "it left its delayed set"); n != 2 {
		t.Errorf("%d recovery lines say the executions left their sets (repaired elsewhere), want 2:\n%s", n, logs.String())
	}
	for _, id := range ids {
		if n := linesWith(logs.String(), id); n > 3 {
			t.Errorf("after the repair, %d lines name %s (want at most 3: stuck, recovered):\n%s", n, id, logs.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCodeOf(cmd.Wait()); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// A watch loop whose every cycle stops at --limit (a backlog larger than
// the limit) still says what is stuck and counts it, at once, not only
// once the backlog has drained: the stuck execution is the oldest entry,
// and 300 due ones behind it take 60 cycles of 5.
func TestStuckUnderLimit(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testStuckUnderLimit(t, bin, server) })
}

func testStuckUnderLimit(t *testing.T, bin string, server fftest.Binary) {
	s, c := ffServer(t, server, 1)
	execs := append([]fftest.Exec{{Partition: 0, Shape: fftest.NoDelayUntil, OffsetMs: -60_000}},
		fftest.Many(300, fftest.Exec{Partition: 0, Shape: fftest.Due, OffsetMs: -1000})...)
	ids := seedNow(t, c, execs...)
	_, sb, logs := startStandby(t, bin, "--interval", "100ms", "--limit", "5", "--url", "redis://"+s.Addr)
	within(t, 20*time.Second, "ffdelay_stuck_executions 1", func() bool { return sb.metric("ffdelay_stuck_executions", nil) == 1 })
	left, err := c.ZCard(context.Background(), redisops.DelayedKey(0, "default")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if left <= 1 {
		t.Errorf("the stuck execution was counted only once the backlog had drained (%d entries left): every cycle cut short by --limit left it out", left)
	}
	if n := linesWith(logs.String(), ids[0]); n != 1 {
		t.Errorf("%d lines name the stuck execution, want its one stuck line:\n%s", n, logs.String())
	}
}

// Two replicas with --lease tell the same story: the follower says it
// follows within one renewal, both export every outcome series from the
// start and the same stuck count (the follower's within one refresh of
// its own), and a clean stop is said at info level, not as a warning.
func TestReplicasTellTheSameStory(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testReplicasSameStory(t, bin, server) })
}

func testReplicasSameStory(t *testing.T, bin string, server fftest.Binary) {
	s, c := ffServer(t, server, 4)
	seedNow(t, c, fftest.Exec{Partition: 0, Shape: fftest.NoDelayUntil}, fftest.Exec{Partition: 2, Shape: fftest.NoDelayUntil})
	url := "redis://" + s.Addr
	args := []string{"--interval", "200ms", "--lease", "--lease-ttl", "3s", "--timeout", "1s", "--url", url}
	first, a, aLogs := startStandby(t, bin, args...)
	within(t, 10*time.Second, "the first replica leads", func() bool { return a.metric("ffdelay_leader", nil) == 1 })
	_, b, bLogs := startStandby(t, bin, args...)
	within(t, 2*time.Second, "the follower says it follows (one renewal is 1s)", func() bool {
		return strings.Contains(bLogs.String(), "following: the lease")
	})
	for _, sb := range []standbyProbe{a, b} {
		for _, o := range model.WriteOutcomes {
			if v := sb.metric("ffdelay_promotions_total", map[string]string{"outcome": string(o)}); v < 0 {
				t.Errorf("%s: no ffdelay_promotions_total{outcome=%q} series", sb.addr, o)
			}
		}
	}
	within(t, 20*time.Second, "both replicas count 2 stuck", func() bool {
		return a.metric("ffdelay_stuck_executions", nil) == 2 && b.metric("ffdelay_stuck_executions", nil) == 2
	})
	first.Process.Signal(syscall.SIGTERM)
	// 1 when its last cycle met the stuck ones (the contract's rule).
	if code := exitCodeOf(first.Wait()); code != 0 && code != 1 {
		t.Errorf("the leader's exit %d after SIGTERM", code)
	}
	for _, l := range strings.Split(aLogs.String(), "\n") {
		if strings.Contains(l, "released on shutdown") && !strings.Contains(l, `"level":"INFO"`) {
			t.Errorf("a clean release is logged as %s", l)
		}
	}
	within(t, 10*time.Second, "the follower takes over", func() bool { return b.metric("ffdelay_leader", nil) == 1 })
}
