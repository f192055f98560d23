package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
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
