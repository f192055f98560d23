package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

// tmux drives a terminal program: its own server socket, one session.
type tmux struct {
	t      *testing.T
	socket string
}

func (x tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (x tmux) screen() string { return x.run("capture-pane", "-p", "-t", "top") }

// waitScreen waits until the screen matches want.
func (x tmux) waitScreen(what string, d time.Duration, want func(string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := x.screen()
		if want(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: not on the screen within %s:\n%s", what, d, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rowOf is the screen line of a lane (or of a partition of it).
func rowOf(screen, lane string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, lane+" ") {
			return l
		}
	}
	return ""
}

// verdictIn is a lane row's verdict: the word before the next hour's
// column (|...| count), or its last word before that column shows.
func verdictIn(row string) string {
	if i := strings.Index(row, "|"); i >= 0 {
		row = row[:i]
	}
	f := strings.Fields(row)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// ffdelay top in a real terminal (tmux) against a server with FlowFabric's
// newest library: a lane turns stalled while due executions age with no
// promoter, draining while promote --watch runs, growing while executions
// fall due faster than they are promoted; s, p, / and q work; the terminal
// is restored after q and after SIGTERM; and top writes nothing.
func TestTopInTmux(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tmux"); err != nil {
		fftest.Skip(t, "tmux is not on this machine (Debian package tmux; make deps installs it)")
	}
	bin := buildBinary(t)
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, c := fftest.NewFlowFabric(t, bins[len(bins)-1])
	ctx := context.Background()
	libs, _, err := fftest.Releases()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		if _, err := libs[len(libs)-1].Load(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := fftest.SetPartitions(ctx, c, 4); err != nil {
		t.Fatal(err)
	}
	if err := fftest.RegisterLanes(ctx, c, "default", "payments"); err != nil {
		t.Fatal(err)
	}
	seed := func(n int, lane string, shape fftest.Shape) {
		t.Helper()
		now, err := fftest.ServerNowMs(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		execs := make([]fftest.Exec, n)
		for i := range execs {
			execs[i] = fftest.Exec{Partition: i % 4, Lane: lane, Shape: shape}
		}
		if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
			t.Fatal(err)
		}
	}
	seed(40, "default", fftest.Due)
	seed(4, "payments", fftest.Future)
	dir := t.TempDir()
	x := tmux{t: t, socket: dir + "/tmux"}
	url := "redis://" + s.Addr
	status := dir + "/status"
	command := fmt.Sprintf("sh -c '%s top --interval 300ms --url %s 2>%s; echo $? > %s'", bin, url, status+".stderr", status)
	start := func() {
		// sh waits for ffdelay and writes its exit status to a file (what
		// tmux reports of a dead pane is not reliable). remain-on-exit
		// keeps the pane when it ends, so the same pane runs top again:
		// killing the last session makes the tmux server exit while the
		// next new-session may already be talking to it ("server exited
		// unexpectedly", 1 run in 20 under load).
		os.Remove(status)
		x.run("new-session", "-d", "-s", "top", "-x", "140", "-y", "40", command,
			";", "set-option", "-t", "top", "remain-on-exit", "on")
	}
	restart := func() {
		os.Remove(status)
		x.run("respawn-pane", "-k", "-t", "top", command)
	}
	exitStatus := func() string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(status); err == nil && len(b) > 0 {
				return strings.TrimSpace(string(b))
			}
		}
		return "still running"
	}
	defer exec.Command("tmux", "-S", x.socket, "kill-server").Run()

	// top alone writes nothing.
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	start()
	x.waitScreen("both lanes", 10*time.Second, func(s string) bool { return rowOf(s, "default") != "" && rowOf(s, "payments") != "" })
	// The next hour at a glance: payments' 4 fall due in its last 5m.
	x.waitScreen("the next hour's bar", 10*time.Second, func(s string) bool {
		return strings.HasSuffix(rowOf(s, "payments"), "█| 4") && strings.HasSuffix(rowOf(s, "default"), "| 0")
	})
	// Checked once top has refreshed again since the screen showed both
	// lanes and its stuck footer's dry run has read cores (HMGET): then
	// whatever it writes would show.
	reads := func() (int64, int64) {
		info := c.Info(ctx, "commandstats").Val()
		return fftest.CommandCalls(info, "zcount"), fftest.CommandCalls(info, "hmget")
	}
	first, _ := reads()
	x.waitScreen("another refresh and the footer", 15*time.Second, func(string) bool {
		z, h := reads()
		return z > first && h > 0
	})
	stats, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"cmdstat_fcall:", "cmdstat_zadd:", "cmdstat_zrem:", "cmdstat_hset:", "cmdstat_set:", "cmdstat_del:", "cmdstat_eval", "cmdstat_exec:"} {
		if strings.Contains(stats, w) {
			t.Errorf("top sent a write (%s):\n%s", w, stats)
		}
	}

	x.waitScreen("default stalled, payments idle", 10*time.Second, func(s string) bool {
		return verdictIn(rowOf(s, "default")) == "stalled" && verdictIn(rowOf(s, "payments")) == "idle"
	})
	// A promoter at 20 a second drains the 40.
	w := exec.Command(bin, "promote", "--watch", "--interval", "100ms", "--rate", "20", "--url", url, "--quiet")
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	x.waitScreen("default draining", 10*time.Second, func(s string) bool { return verdictIn(rowOf(s, "default")) == "draining" })
	x.waitScreen("default drained", 10*time.Second, func(s string) bool { return verdictIn(rowOf(s, "default")) == "idle" })
	// Executions falling due faster than the promoter (20 a second) takes
	// them: 50 a second, for up to 10 seconds (a loaded machine slows
	// the seeding too).
	growing := false
	for i := 0; i < 100 && !growing; i++ {
		seed(5, "payments", fftest.Due)
		time.Sleep(100 * time.Millisecond)
		growing = verdictIn(rowOf(x.screen(), "payments")) == "growing"
	}
	if !growing {
		t.Errorf("payments never showed growing while executions fell due faster than promoted:\n%s", x.screen())
	}
	w.Process.Kill()
	w.Wait()

	// Keys.
	x.run("send-keys", "-t", "top", "s")
	x.waitScreen("sort by due", 5*time.Second, func(s string) bool { return strings.Contains(s, "sorted by due") })
	x.run("send-keys", "-t", "top", "p")
	x.waitScreen("per-partition rows", 5*time.Second, func(s string) bool {
		for p := 0; p < 4; p++ {
			if strings.Contains(s, fmt.Sprintf("payments  %d ", p)) {
				return true
			}
		}
		return false
	})
	x.run("send-keys", "-t", "top", "/", "pay", "Enter")
	x.waitScreen("filtered to payments", 5*time.Second, func(s string) bool {
		return strings.Contains(s, "lanes matching pay") && rowOf(s, "default") == "" && rowOf(s, "payments") != ""
	})
	x.run("send-keys", "-t", "top", "q")
	restored := x.waitScreen("the terminal restored after q", 5*time.Second, func(s string) bool { return !strings.Contains(s, "ffdelay top") })
	if st := exitStatus(); st != "0" {
		errs, _ := os.ReadFile(status + ".stderr")
		t.Errorf("after q: exit %s, want 0; screen:\n%s\nstderr:\n%s", st, restored, errs)
	}

	// SIGTERM restores the terminal too.
	restart()
	x.waitScreen("top again", 10*time.Second, func(s string) bool { return strings.Contains(s, "ffdelay top") })
	sh := strings.TrimSpace(x.run("display-message", "-p", "-t", "top", "#{pane_pid}"))
	if out, err := exec.Command("pkill", "-TERM", "-P", sh).CombinedOutput(); err != nil {
		t.Fatalf("pkill: %v %s", err, out)
	}
	x.waitScreen("the terminal restored after SIGTERM", 5*time.Second, func(s string) bool { return !strings.Contains(s, "ffdelay top") })
	if st := exitStatus(); st != "0" {
		errs, _ := os.ReadFile(status + ".stderr")
		t.Errorf("after SIGTERM: exit %s, want 0; stderr:\n%s", st, errs)
	}
}

// top in a small terminal (80x20): in the per-partition view, with more
// rows than fit and a long stuck footer, the title and the connection line
// stay at the top; the footer and the help wrap at the terminal's width
// instead of being cut; Esc closes the help.
func TestTopInASmallTerminal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tmux"); err != nil {
		fftest.Skip(t, "tmux is not on this machine (Debian package tmux; make deps installs it)")
	}
	bin := buildBinary(t)
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, c := ffServer(t, bins[0], 16, "default", "payments")
	var execs []fftest.Exec
	for p := 0; p < 16; p++ {
		execs = append(execs, fftest.Exec{Partition: p, Lane: "default", Shape: fftest.Due}, fftest.Exec{Partition: p, Lane: "payments", Shape: fftest.Due})
	}
	execs = append(execs, fftest.Exec{Partition: 3, Lane: "default", Shape: fftest.NoDelayUntil})
	seedNow(t, c, execs...)
	x := tmux{t: t, socket: t.TempDir() + "/tmux"}
	x.run("new-session", "-d", "-s", "top", "-x", "80", "-y", "20", fmt.Sprintf("%s top --interval 300ms --url redis://%s", bin, s.Addr))
	defer exec.Command("tmux", "-S", x.socket, "kill-server").Run()
	top := func(screen string) bool {
		lines := strings.Split(screen, "\n")
		return len(lines) > 1 && strings.HasPrefix(lines[0], "ffdelay top") && strings.HasPrefix(lines[1], "server time ") && strings.Contains(lines[1], "connected")
	}
	x.waitScreen("the stuck footer, wrapped to its end", 15*time.Second, func(s string) bool {
		return top(s) && strings.Contains(s, "stuck: 1 repairable") && strings.Contains(s, "see ffdelay promote --dry-run")
	})
	x.run("send-keys", "-t", "top", "p")
	x.waitScreen("per-partition rows under the title and connection line", 5*time.Second, func(s string) bool {
		return top(s) && strings.Contains(s, "more rows (filter with /)") && strings.Contains(s, "q quit")
	})
	x.run("send-keys", "-t", "top", "?")
	x.waitScreen("the help, wrapped, under the title", 5*time.Second, func(s string) bool {
		return top(s) && strings.Contains(s, "verdicts: draining") && strings.Contains(s, "is a promoter running?), idle")
	})
	x.run("send-keys", "-t", "top", "Escape")
	x.waitScreen("the help closed by Esc", 5*time.Second, func(s string) bool { return top(s) && !strings.Contains(s, "verdicts:") })
	for i, l := range strings.Split(x.screen(), "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Errorf("line %d is %d columns wide in an 80-column terminal: %q", i, w, l)
		}
	}
}
