package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
)

// standbyProbe reads a standby's endpoint.
type standbyProbe struct {
	t    *testing.T
	addr string
}

func (s standbyProbe) get(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + s.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric is the value of the series of name with labels, or -1 when there
// is none.
func (s standbyProbe) metric(name string, labels map[string]string) float64 {
	_, body := s.get("/metrics")
	if body == "" || strings.Contains(body, "connection refused") || !strings.Contains(body, "# HELP") {
		return -1 // not serving (yet, or any more)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("/metrics does not parse: %v", err)
	}
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if matches(m, labels) {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

// within polls cond every 50ms for up to d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The standby's signals follow the server: stuck executions fixed from
// another shell leave the gauge, needs_repair is counted once, readiness
// turns 503 within seconds of a CLIENT PAUSE and of a FUNCTION FLUSH (with
// the reason), and a failing cycle's JSON log line names its error.
func TestStandbySignals(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testStandbySignals(t, bin, server) })
}

func testStandbySignals(t *testing.T, bin string, server fftest.Binary) {
	s, c := fftest.NewFlowFabric(t, server)
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, 4); err != nil {
		t.Fatal(err)
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	stuck := []fftest.Exec{{Partition: 0, Shape: fftest.NoDelayUntil}, {Partition: 1, Shape: fftest.NoDelayUntil}, {Partition: 2, Shape: fftest.NoDelayUntil}}
	if _, err := fftest.Seed(ctx, c, now, stuck); err != nil {
		t.Fatal(err)
	}
	port, err := fftest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sb := standbyProbe{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	url := "redis://" + s.Addr
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "--watch", "--interval", "100ms", "--timeout", "1s", "--url", url,
		"--listen", sb.addr, "--log-format", "json", "--quiet")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	within(t, 20*time.Second, "/readyz 200", func() bool { code, _ := sb.get("/readyz"); return code == 200 })
	within(t, 20*time.Second, "ffdelay_stuck_executions 3", func() bool { return sb.metric("ffdelay_stuck_executions", nil) == 3 })
	if v := sb.metric("ffdelay_promotions_total", map[string]string{"outcome": "needs_repair"}); v < 3 {
		t.Errorf("needs_repair counted %v times, want at least 3", v)
	}
	if v := sb.metric("ffdelay_promotions_total", map[string]string{"outcome": "failed"}); v > 0 {
		t.Errorf("needs_repair is also counted as failed (%v): sum() over outcomes over-counts", v)
	}
	// After three strikes they sit out their backoff: a gauge, not a
	// counter that grows every cycle.
	within(t, 10*time.Second, "ffdelay_backoff_executions 3", func() bool { return sb.metric("ffdelay_backoff_executions", nil) == 3 })
	for _, o := range []string{"skipped", "skipped_backoff"} {
		if v := sb.metric("ffdelay_promotions_total", map[string]string{"outcome": o}); v > 0 {
			t.Errorf("executions sitting out their backoff are counted as %s (%v): the counter grows every cycle", o, v)
		}
	}
	// Fixed from another shell: the gauge follows the server.
	if out, err := exec.Command(bin, "promote", "--repair", "--url", url).CombinedOutput(); err != nil {
		t.Fatalf("promote --repair: %v\n%s", err, out)
	}
	within(t, 10*time.Second, "ffdelay_stuck_executions back to 0", func() bool { return sb.metric("ffdelay_stuck_executions", nil) == 0 })

	// A paused server is not ready, within seconds, and ready again after.
	paused := time.Now()
	if err := c.Do(ctx, "CLIENT", "PAUSE", "6000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "/readyz 503 during CLIENT PAUSE", func() bool { code, _ := sb.get("/readyz"); return code == 503 })
	if time.Since(paused) > 5*time.Second {
		t.Errorf("readiness took %s to see the pause", time.Since(paused))
	}
	if err := c.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "/readyz 200 after the pause", func() bool { code, _ := sb.get("/readyz"); return code == 200 })

	// A library that goes away: 503, and the body says why.
	if err := c.Do(ctx, "FUNCTION", "FLUSH").Err(); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "/readyz 503 after FUNCTION FLUSH", func() bool {
		code, body := sb.get("/readyz")
		return code == 503 && strings.Contains(body, "library")
	})
	if v := sb.metric("ffdelay_server_up", nil); v != 0 {
		t.Errorf("ffdelay_server_up = %v without the library", v)
	}
	// It stays up, and is ready again once the library is back.
	if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "/readyz 200 with the library back", func() bool { code, _ := sb.get("/readyz"); return code == 200 })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// The cycles that timed out during the pause logged their error.
	sc := bufio.NewScanner(&stderr)
	failed, idle := 0, 0
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["msg"] != "cycle" {
			continue
		}
		if e, _ := rec["error"].(string); e != "" {
			failed++
		} else if rec["promoted"] == 0.0 && rec["failed"] == 0.0 && rec["cleaned"] == 0.0 && rec["repaired"] == 0.0 {
			idle++
		}
	}
	if idle > 0 {
		t.Errorf("%d idle cycles logged at info level: a quiet standby must not log a line per interval", idle)
	}
	if failed == 0 {
		t.Errorf("no cycle log line carries an error, though cycles failed during the pause; stderr:\n%s", tail(stderr.String(), 2000))
	}
}

// A loop blocked on its output (stdout to a pipe nobody reads) is not
// live: /healthz turns 503, and SIGTERM still ends the process in bounded
// time.
func TestStandbyBlockedOutput(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := fftest.NewFlowFabric(t, bins[0])
	fifo := filepath.Join(t.TempDir(), "out")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_RDWR opens a FIFO without a reader; nothing ever reads it, and the
	// smallest pipe buffer fills after a few cycles of NDJSON.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatal(err)
	}
	port, err := fftest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sb := standbyProbe{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	cmd := exec.Command(bin, "promote", "--watch", "-o", "ndjson", "--interval", "100ms", "--timeout", "1s",
		"--url", "redis://"+s.Addr, "--listen", sb.addr)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	within(t, 10*time.Second, "/healthz 200 at first", func() bool { code, _ := sb.get("/healthz"); return code == 200 })
	within(t, 30*time.Second, "/healthz 503 with the output blocked", func() bool { code, _ := sb.get("/healthz"); return code == 503 })
	signalled := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCodeOf(err); code != 143 {
			t.Errorf("exit %d after SIGTERM, want 143", code)
		}
		if took := time.Since(signalled); took > 12*time.Second {
			t.Errorf("SIGTERM took %s to end a blocked loop", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM; stderr %s", stderr.String())
	}
}

// Idle keep-alive connections cannot grow the standby's memory: the
// endpoint holds at most a few dozen connections, drops the ones that send
// nothing, and serves a scrape again once they are gone.
func TestStandbyIdleConnections(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := fftest.NewFlowFabric(t, bins[0])
	port, err := fftest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	sb := standbyProbe{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	cmd := exec.Command(bin, "promote", "--watch", "--quiet", "--interval", "100ms", "--url", "redis://"+s.Addr, "--listen", sb.addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	within(t, 10*time.Second, "/readyz 200", func() bool { code, _ := sb.get("/readyz"); return code == 200 })
	rss := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				return kb
			}
		}
		return -1
	}
	before := rss()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 4000; i++ {
		c, err := net.DialTimeout("tcp", sb.addr, time.Second)
		if err != nil {
			break // the backlog is full: that is the cap working
		}
		conns = append(conns, c)
	}
	// Measured once the standby has taken every connection it will: its
	// open descriptors stop changing.
	fds := func() int {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	last, steady := -1, 0
	within(t, 20*time.Second, "the standby's descriptors settle", func() bool {
		if n := fds(); n == last {
			steady++
		} else {
			last, steady = n, 0
		}
		return steady >= 4
	})
	if after := rss(); after-before > 30<<10 {
		t.Errorf("%d idle connections took the standby from %d to %d KiB", len(conns), before, after)
	}
	// The idle ones are dropped (they never sent a request header), so a
	// scrape gets through again.
	within(t, 20*time.Second, "a scrape after the idle connections", func() bool { code, _ := sb.get("/metrics"); return code == 200 })
}
