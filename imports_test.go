package main

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/flowfabric/ffdelay/"

// layering is what each package of the binary may import from the others
// (shared/style.md): data flows commands -> promote -> redisops, every one
// of them hands plain model values to output, and go-redis stays behind
// redisops.
var layering = map[string][]string{
	".":                      {"internal/commands", "internal/redisops"},
	"internal/commands":      {"internal/model", "internal/output", "internal/promote", "internal/redisops"},
	"internal/promote":       {"internal/model", "internal/redisops"},
	"internal/redisops":      {"internal/model"},
	"internal/output":        {"internal/model"},
	"internal/model":         {},
	"internal/fftest":        {"internal/model", "internal/redisops"},
	"internal/cmd/ffsandbox": {"internal/fftest", "internal/model", "internal/redisops"},
}

// goRedisAllowed are the packages that may talk to Redis directly: redisops
// for the binary, the test harness and the sandbox for tests and benches.
var goRedisAllowed = map[string]bool{"internal/redisops": true, "internal/fftest": true, "internal/cmd/ffsandbox": true}

// TestLayering keeps the package boundaries of shared/style.md.
func TestLayering(t *testing.T) {
	fset := token.NewFileSet()
	for dir, allowed := range layering {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(files) == 0 {
			t.Errorf("package %s has no files: update the layering table", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, "github.com/redis/go-redis") && !goRedisAllowed[dir] {
					t.Errorf("%s imports %s: only redisops may talk to Redis", f, path)
				}
				own, ok := strings.CutPrefix(path, module)
				if !ok {
					continue
				}
				permitted := false
				for _, a := range allowed {
					permitted = permitted || own == a
				}
				if !permitted {
					t.Errorf("%s imports %s: %s may import only %v", f, own, dir, allowed)
				}
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "ffdelay/internal/fftest") {
		t.Error("the ffdelay binary links the fftest harness")
	}
	pkgs, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(pkgs)) {
		if p != strings.TrimSuffix(module, "/") && !strings.HasPrefix(p, module+"internal/") {
			t.Errorf("package %s is outside internal/: only main may be", p)
		}
	}
}
