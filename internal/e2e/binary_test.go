package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  string
	buildDir  string
)

// TestMain removes the binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBinary builds ffdelay once per test run, race-instrumented when the
// tests are (so `make test`'s -race pass checks the processes too).
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ffdelay-e2e-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		buildDir = dir
		bin := filepath.Join(dir, "ffdelay")
		args := []string{"build", "-o", bin}
		if raceBuild {
			args = append(args, "-race")
		}
		args = append(args, "github.com/flowfabric/ffdelay")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			buildErr = "go build: " + err.Error() + "\n" + string(out)
			return
		}
		builtBin = bin
	})
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	return builtBin
}

// runPeak runs cmd and returns its exit code and its peak resident memory
// in KiB. The peak is read from /proc while it runs (VmHWM, the high-water
// mark of its own address space since exec), not from the wait status:
// Linux carries a parent's peak into a forked child's ru_maxrss, so a large
// test process would make every child look large.
func runPeak(t *testing.T, cmd *exec.Cmd) (code int, peakKiB int64) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if kib := vmHWM(status); kib > peakKiB {
			peakKiB = kib
		}
		select {
		case err := <-done:
			return exitCodeOf(err), peakKiB
		case <-tick.C:
		}
	}
}

// vmHWM reads the VmHWM line of a /proc status file, in KiB (0 when the
// process is gone).
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// flowFabric starts a server of the matrix's first binary with the fixture
// library and partitions partitions, and returns it with its clock.
func flowFabric(t *testing.T, partitions int) (*fftest.Server, *redis.Client, int64) {
	t.Helper()
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, c := fftest.NewFlowFabric(t, bins[0])
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, partitions); err != nil {
		t.Fatal(err)
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, now
}
