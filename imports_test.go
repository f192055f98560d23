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

// TestOnlyRedisopsImportsGoRedis keeps the layering of shared/style.md:
// redisops is the only package of the binary that talks to Redis, output
// the only one that formats, and the test harness is never linked in.
func TestOnlyRedisopsImportsGoRedis(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, dir := range []string{"internal/commands", "internal/output"} {
		more, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		files = append(files, more...)
	}
	fset := token.NewFileSet()
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
			if strings.HasPrefix(path, "github.com/redis/go-redis") {
				t.Errorf("%s imports %s: only redisops may", f, path)
			}
			if strings.HasSuffix(path, "/fftest") {
				t.Errorf("%s imports the test harness %s", f, path)
			}
			if filepath.Dir(f) == "internal/output" && strings.HasSuffix(path, "/commands") {
				t.Errorf("%s imports commands: output renders plain structs only", f)
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "ffdelay/fftest") {
		t.Error("the ffdelay binary links the fftest harness")
	}
}
