package fftest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// LibrariesEnv names a folder of FlowFabric's real function libraries
// (flowfabric-<tag>.lua, as in shared/flowfabric/lua). Without it the
// harness looks for ../shared/flowfabric/lua beside the repository.
const LibrariesEnv = "FFDELAY_TEST_LIBRARIES"

// Library is a flowfabric function library the tests load: the project's
// own fixture, or one of FlowFabric's released libraries.
type Library struct {
	// Name is "fixture" or the release tag, e.g. "v0.14.0".
	Name string
	Path string
}

// Real reports whether this is one of FlowFabric's own libraries.
func (l Library) Real() bool { return l.Name != "fixture" }

// Fixture is testdata/flowfabric.lua, written from the spec.
func Fixture() Library {
	_, file, _, _ := runtime.Caller(0)
	return Library{Name: "fixture", Path: filepath.Join(filepath.Dir(file), "..", "..", "testdata", "flowfabric.lua")}
}

// LibraryPath is the fixture library's path.
func LibraryPath() string { return Fixture().Path }

// Releases lists FlowFabric's real libraries, oldest first. The note says
// where they came from, or why there are none (the folder is optional for a
// local make test; CI passes it).
func Releases() (libs []Library, note string, err error) {
	dir := os.Getenv(LibrariesEnv)
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "flowfabric", "lua")
		if _, err := os.Stat(dir); err != nil {
			return nil, "no FlowFabric release libraries: " + LibrariesEnv + " is not set and " + dir + " does not exist", nil
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "flowfabric-v*.lua"))
	if err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("%s=%s holds no flowfabric-v*.lua", LibrariesEnv, dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "flowfabric-"), ".lua")
		libs = append(libs, Library{Name: name, Path: f})
	}
	sort.Slice(libs, func(i, j int) bool { return releaseLess(libs[i].Name, libs[j].Name) })
	return libs, "FlowFabric release libraries from " + dir, nil
}

// releaseLess orders tags like v0.3.4 < v0.10.0 numerically.
func releaseLess(a, b string) bool {
	var x, y [3]int
	fmt.Sscanf(a, "v%d.%d.%d", &x[0], &x[1], &x[2])
	fmt.Sscanf(b, "v%d.%d.%d", &y[0], &y[1], &y[2])
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return a < b
}

// Load loads the library (FUNCTION LOAD REPLACE) and returns what its
// ff_version reports. Tests only: ffdelay itself never loads functions.
func (l Library) Load(ctx context.Context, c redis.Cmdable) (string, error) {
	b, err := os.ReadFile(l.Path)
	if err != nil {
		return "", err
	}
	if err := c.FunctionLoadReplace(ctx, string(b)).Err(); err != nil {
		return "", fmt.Errorf("loading %s: %w", l.Name, err)
	}
	v, err := c.FCall(ctx, "ff_version", nil).Text()
	if err != nil {
		return "", fmt.Errorf("%s: ff_version: %w", l.Name, err)
	}
	return v, nil
}

// LoadLibrary loads the fixture library. version, when not empty, replaces
// the version its ff_version reports.
func LoadLibrary(ctx context.Context, c redis.Cmdable, version string) error {
	b, err := os.ReadFile(LibraryPath())
	if err != nil {
		return err
	}
	src := string(b)
	if version != "" {
		src = strings.Replace(src, "local FF_VERSION = '15'", "local FF_VERSION = '"+version+"'", 1)
	}
	return c.FunctionLoadReplace(ctx, src).Err()
}

// LoadSlowLibrary loads the fixture library with ff_promote_delayed made
// slow: a busy loop of n iterations before its work (a server whose calls
// cost more, for --max-stall). Scripts cannot wait on the clock instead:
// Valkey freezes TIME while a script runs.
func LoadSlowLibrary(ctx context.Context, c redis.Cmdable, n int) error {
	b, err := os.ReadFile(LibraryPath())
	if err != nil {
		return err
	}
	marker := "redis.register_function('ff_promote_delayed', function(keys, args)\n"
	src := string(b)
	if !strings.Contains(src, marker) {
		return fmt.Errorf("fixture library has no %q", marker)
	}
	src = strings.Replace(src, marker, marker+fmt.Sprintf("  local spin = 0\n  for i = 1, %d do spin = spin + i end\n", n), 1)
	return c.FunctionLoadReplace(ctx, src).Err()
}

// NoSkipEnv, when set (CI's full matrix sets it), turns every Skip into a
// failure: a matrix that skipped a test has not tested what it claims.
const NoSkipEnv = "FFDELAY_TEST_NO_SKIP"

// Skip skips t visibly with the reason (SKIP in the output), or fails it
// when NoSkipEnv is set.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(NoSkipEnv) != "" {
		t.Fatalf("%s is set, and this test would skip: %s", NoSkipEnv, reason)
	}
	t.Skip(reason)
}
