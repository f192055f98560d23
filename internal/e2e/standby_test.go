package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	dto "github.com/prometheus/client_model/go"
)

// promote --watch --listen as a standby promoter: /metrics parses and its
// counters move as executions fall due, /readyz turns 503 when the server
// goes and 200 when it is back, SIGTERM ends it with exit 0 and a summary,
// and --log-format json makes every stderr line a JSON object.
func TestStandby(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fftest.EachServer(t, func(t *testing.T, server fftest.Binary) { testStandby(t, bin, server) })
}

func testStandby(t *testing.T, bin string, server fftest.Binary) {
	s, c := fftest.NewFlowFabric(t, server)
	ctx := context.Background()
	fftest.SetPartitions(ctx, c, 4)
	seed := func(n int) {
		t.Helper()
		now, err := fftest.ServerNowMs(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var execs []fftest.Exec
		for i := 0; i < n; i++ {
			execs = append(execs, fftest.Exec{Partition: i % 4, Shape: fftest.Due})
		}
		if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
			t.Fatal(err)
		}
	}
	seed(5)
	port, err := fftest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "--watch", "--interval", "100ms", "--timeout", "1s", "--url", "redis://"+s.Addr,
		"--listen", addr, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sb := standbyProbe{t: t, addr: addr}
	get, metric := sb.get, sb.metric
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s; stderr %s", what, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	promoted := map[string]string{"outcome": "promoted"}
	waitFor("/readyz 200", func() bool { code, _ := get("/readyz"); return code == 200 })
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	waitFor("5 promotions counted", func() bool { return metric("ffdelay_promotions_total", promoted) == 5 })
	seed(3)
	waitFor("8 promotions counted", func() bool { return metric("ffdelay_promotions_total", promoted) == 8 })
	for _, name := range []string{"ffdelay_cycle_duration_seconds", "ffdelay_last_success_timestamp_seconds", "ffdelay_server_up",
		"ffdelay_stuck_executions", "go_goroutines", "process_resident_memory_bytes"} {
		if v := metric(name, nil); v < 0 {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// A drained lane keeps its backlog series, at 0 ("no data" would fire
	// absent() alerts and blank dashboards).
	defaultLane := map[string]string{"lane": "default"}
	waitFor("ffdelay_due{lane=\"default\"} 0 once drained", func() bool { return metric("ffdelay_due", defaultLane) == 0 })
	for _, name := range []string{"ffdelay_delayed", "ffdelay_max_overdue_seconds"} {
		if v := metric(name, defaultLane); v != 0 {
			t.Errorf("%s{lane=\"default\"} = %v once drained, want 0", name, v)
		}
	}

	s.Stop()
	waitFor("/readyz 503", func() bool { code, _ := get("/readyz"); return code == 503 })
	if _, body := get("/readyz"); !strings.Contains(body, "cannot reach") || strings.Count(body, "\n") != 1 {
		t.Errorf("/readyz body %q: want one line saying the server cannot be reached", body)
	}
	if v := metric("ffdelay_server_up", nil); v != 0 {
		t.Errorf("ffdelay_server_up = %v with the server down", v)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := fftest.LoadLibrary(ctx, s.Client(), ""); err != nil {
		t.Fatal(err)
	}
	waitFor("/readyz 200 again", func() bool { code, _ := get("/readyz"); return code == 200 })

	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCodeOf(cmd.Wait()); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "watch stopped after") {
		t.Errorf("no summary on stdout: %s", stdout.String())
	}
	sc := bufio.NewScanner(&stderr)
	lines := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q", sc.Text())
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("log line without %s: %q", k, sc.Text())
			}
		}
		lines++
	}
	if lines == 0 {
		t.Error("no log lines on stderr")
	}
	// The endpoint is gone with the process.
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the endpoint still listens after exit")
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.Label {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// A taken port is a usage error before the loop starts.
func TestStandbyPortTaken(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "promote", "--watch", "--listen", ln.Addr().String(), "--url", "redis://127.0.0.1:1")
	cmd.Stderr = &stderr
	if code := exitCodeOf(cmd.Run()); code != 2 || !strings.Contains(stderr.String(), "is the port taken?") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
