package main

// The repository's own checks: package layering, the README's tested-against
// table, TESTING.md's script verbs, well-formed scripts and the deployment
// examples.

import (
	"context"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/commands"
	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/rogpeppe/go-internal/txtar"
)

const module = "github.com/flowfabric/ffdelay/"

// layering is what each package of the binary may import from the others
// (shared/style.md): data flows commands -> promote -> redisops, every one
// of them hands plain model values to output, and go-redis stays behind
// redisops.
var layering = map[string][]string{
	".":                      {"commands", "redisops"},
	"commands":               {"internal/model", "output", "internal/promote", "internal/audit", "internal/watch", "internal/metrics", "redisops"},
	"internal/watch":         {"internal/model", "output", "internal/metrics", "redisops"},
	"internal/metrics":       {"internal/model", "output"},
	"internal/promote":       {"internal/model", "redisops"},
	"internal/audit":         {"internal/model", "redisops"},
	"redisops":               {"internal/model"},
	"output":                 {"internal/model"},
	"internal/model":         {},
	"internal/fftest":        {"internal/model", "redisops"},
	"internal/cmd/ffsandbox": {"internal/fftest", "internal/model", "redisops"},
}

// goRedisAllowed are the packages that may talk to Redis directly: redisops
// for the binary, the test harness and the sandbox for tests and benches.
var goRedisAllowed = map[string]bool{"redisops": true, "internal/fftest": true, "internal/cmd/ffsandbox": true}

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
		own := strings.TrimPrefix(strings.TrimPrefix(p, strings.TrimSuffix(module, "/")), "/")
		if own == "" {
			own = "."
		}
		if _, ok := layering[own]; !ok && !testOnly[own] {
			t.Errorf("package %s is not in the layering table", p)
		}
		if !designCard[own] && !strings.HasPrefix(own, "internal/") {
			t.Errorf("package %s is at the top level, which the design card keeps for main, commands, redisops and output: put it under internal/", p)
		}
	}
}

// sharedNames are top-level function names that two packages of the
// binary may both define, because they name different jobs: a package's
// constructor or planner (promote.Plan, audit.Plan), and inspect's read
// (redisops) and its wording (output).
var sharedNames = map[string]bool{"New": true, "Plan": true, "Diagnose": true}

// TestOnePolicyHome keeps each concern in one place: no package of the
// binary but redisops lists error kinds to decide a policy (the exit
// status, a retry, a stop: redisops.Kind's methods do), and no two
// packages define a function of the same name (a classifier written
// twice drifts apart).
func TestOnePolicyHome(t *testing.T) {
	fset := token.NewFileSet()
	defined := map[string][]string{}
	for dir := range layering {
		if goRedisAllowed[dir] && dir != "redisops" {
			continue // the test harness and the sandbox
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range af.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && !sharedNames[fd.Name.Name] {
					defined[fd.Name.Name] = append(defined[fd.Name.Name], dir)
				}
			}
			if dir == "redisops" {
				continue
			}
			ast.Inspect(af, func(n ast.Node) bool {
				cc, ok := n.(*ast.CaseClause)
				if !ok {
					return true
				}
				kinds := 0
				for _, e := range cc.List {
					if sel, ok := e.(*ast.SelectorExpr); ok && strings.HasPrefix(sel.Sel.Name, "Kind") {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "redisops" {
							kinds++
						}
					}
				}
				if kinds >= 3 {
					t.Errorf("%s: a case lists %d error kinds: the policy belongs on redisops.Kind (ExitStatus, Permanent, Unusable)", fset.Position(cc.Pos()), kinds)
				}
				return true
			})
		}
	}
	for name, dirs := range defined {
		if len(dirs) > 1 {
			sort.Strings(dirs)
			uniq := dirs[:1]
			for _, d := range dirs[1:] {
				if d != uniq[len(uniq)-1] {
					uniq = append(uniq, d)
				}
			}
			if len(uniq) > 1 {
				t.Errorf("func %s is defined in %v: one home per concern", name, uniq)
			}
		}
	}
}

// designCard are the top-level packages the user's design card names.
var designCard = map[string]bool{".": true, "commands": true, "redisops": true, "output": true}

// testOnly packages hold only tests (and a doc comment), and may import anything.
var testOnly = map[string]bool{"internal/e2e": true}

var updateReadme = flag.Bool("update-readme", false, "rewrite README.md's tested-against table from this run's matrix")

const (
	matrixBegin = "<!-- tested-against:begin (go test -run TestTestedAgainst -update-readme rewrites it) -->"
	matrixEnd   = "<!-- tested-against:end -->"
)

// testedAgainst renders the matrix this run tests: every server with the
// fixture library (all scripts, standalone and cluster) and with each
// FlowFabric release library (states made by its own functions, plus the
// core scripts on the last server: TestScriptsReleases).
func testedAgainst(servers []fftest.Binary, libs []fftest.Library) string {
	var b strings.Builder
	b.WriteString("| server | fixture library |")
	for _, l := range libs {
		b.WriteString(" FlowFabric " + l.Name + " |")
	}
	b.WriteString("\n|---|---|")
	for range libs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for i, s := range servers {
		b.WriteString("| " + s.Product + " " + s.Version + " | all scripts, standalone + cluster |")
		for range libs {
			if i == len(servers)-1 {
				b.WriteString(" states + core scripts |")
			} else {
				b.WriteString(" states |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestTestedAgainst keeps README's "Tested against" table true: it must
// name every server and release library this run tests; with
// FFDELAY_TEST_MATRIX_FULL set (.ci/run, with shared/ present) it must
// match the matrix exactly.
func TestTestedAgainst(t *testing.T) {
	servers, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	libs, _, err := fftest.Releases()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, matrixBegin), strings.Index(s, matrixEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", matrixBegin, matrixEnd)
	}
	current := s[i+len(matrixBegin)+1 : j]
	want := testedAgainst(servers, libs)
	if *updateReadme {
		if err := os.WriteFile("README.md", []byte(s[:i+len(matrixBegin)+1]+want+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if current == want {
		return
	}
	if os.Getenv("FFDELAY_TEST_MATRIX_FULL") != "" {
		t.Fatalf("README.md's tested-against table does not match the full matrix .ci/run tests; rerun with -update-readme:\nwant:\n%s\nhave:\n%s", want, current)
	}
	for _, sv := range servers {
		if !strings.Contains(current, "| "+sv.Product+" "+sv.Version+" |") {
			t.Errorf("README.md's tested-against table lacks %s %s, which this run tests (go test -run TestTestedAgainst -update-readme)", sv.Product, sv.Version)
		}
	}
	for _, l := range libs {
		if !strings.Contains(current, "FlowFabric "+l.Name+" |") {
			t.Errorf("README.md's tested-against table lacks FlowFabric %s, which this run tests", l.Name)
		}
	}
}

const (
	verbsBegin = "<!-- verbs:begin (go test -run TestTestingDoc -update-readme rewrites it) -->"
	verbsEnd   = "<!-- verbs:end -->"
)

// scriptVerbs reads the custom testscript verbs from main_test.go: the keys
// of params' Cmds map and the doc comment of the function each names.
func scriptVerbs(t *testing.T) map[string]string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main_test.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Doc != nil {
			docs[fn.Name.Name] = strings.Join(strings.Fields(fn.Doc.Text()), " ")
		}
	}
	verbs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		key, ok1 := kv.Key.(*ast.BasicLit)
		val, ok2 := kv.Value.(*ast.Ident)
		if ok1 && ok2 && key.Kind == token.STRING && strings.HasPrefix(val.Name, "cmd") {
			name, _ := strconv.Unquote(key.Value)
			verbs[name] = docs[val.Name]
		}
		return true
	})
	return verbs
}

// TestTestingDoc keeps TESTING.md's list of script verbs generated from
// the verbs' own doc comments, and fails on a verb without one.
func TestTestingDoc(t *testing.T) {
	verbs := scriptVerbs(t)
	var names []string
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if verbs[n] == "" {
			t.Errorf("script verb %s has no doc comment on its function", n)
		}
		b.WriteString("- `" + n + "`: " + verbs[n] + "\n")
	}
	doc, err := os.ReadFile("TESTING.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, verbsBegin), strings.Index(s, verbsEnd)
	if i < 0 || j < i {
		t.Fatalf("TESTING.md has no %q ... %q section", verbsBegin, verbsEnd)
	}
	fresh := s[:i+len(verbsBegin)] + "\n" + b.String() + s[j:]
	if *updateReadme {
		if err := os.WriteFile("TESTING.md", []byte(fresh), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if fresh != s {
		t.Error("TESTING.md's verb list is out of date: go test -run TestTestingDoc -update-readme")
	}
}

// scriptCommand matches a line that is a testscript command: it would
// never run inside a file section.
var scriptCommand = regexp.MustCompile(`^(\[[!\w]+\] )*(! )?(exec|ffexit|stdout|stderr|cmp|env|wait|kill|redis|sleep|ff-[a-z-]+) `)

// TestScriptsAreWellFormed fails when a script has commands after its
// first file section (they are file content and never run) or carries an
// archive file that its script never names.
func TestScriptsAreWellFormed(t *testing.T) {
	files, _ := filepath.Glob("testdata/script/*.txtar")
	more, _ := filepath.Glob("testdata/script/*/*.txtar")
	for _, f := range append(files, more...) {
		a, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		script := string(a.Comment)
		for _, file := range a.Files {
			for i, line := range strings.Split(string(file.Data), "\n") {
				if scriptCommand.MatchString(line) {
					t.Errorf("%s: line %d of file section %s is a command that never runs: %s", f, i+1, file.Name, line)
				}
			}
			if !strings.Contains(script, file.Name) {
				t.Errorf("%s: archive file %s is never used by the script", f, file.Name)
			}
		}
	}
}

// The deployment examples are exercised as far as this machine allows:
// the systemd unit passes systemd-analyze verify (when the machine has
// it), the Kubernetes probes and PodMonitor point at the endpoints ffdelay
// serves, images are pinned, and the arguments every example passes are
// flags ffdelay accepts.
func TestDeploymentExamples(t *testing.T) {
	unit, err := os.ReadFile("deploy/systemd/ffdelay.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "Restart=on-failure", "FFDELAY_LISTEN=", "ExecStart=/usr/local/bin/ffdelay promote --watch"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("systemd unit lacks %q", want)
		}
	}
	t.Run("systemd-analyze", func(t *testing.T) {
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			fftest.Skip(t, "systemd-analyze is not on this machine (Debian package systemd): the unit's contents are checked, not verified")
		}
		// verify wants ExecStart's binary to exist: this test binary stands in.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		u := strings.ReplaceAll(string(unit), "/usr/local/bin/ffdelay", self)
		u = strings.ReplaceAll(u, "EnvironmentFile=/", "EnvironmentFile=-/")
		path := filepath.Join(dir, "ffdelay.service")
		if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})

	k8s, err := os.ReadFile("deploy/kubernetes/ffdelay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ks := string(k8s)
	for _, want := range []string{"path: /healthz", "path: /readyz", "path: /metrics", "kind: PodMonitor", "containerPort: 9465", "value: 0.0.0.0:9465", "readOnlyRootFilesystem: true", "replicas: 2", "name: FFDELAY_LEASE"} {
		if !strings.Contains(ks, want) {
			t.Errorf("Kubernetes example lacks %q", want)
		}
	}
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	images := regexp.MustCompile(`(?m)^\s*image:\s*(\S+)|^FROM\s+(\S+)`).FindAllStringSubmatch(ks+"\n"+string(docker), -1)
	if len(images) < 3 {
		t.Fatalf("found %d images in the examples", len(images))
	}
	for _, m := range images {
		img := m[1] + m[2]
		if img == "scratch" {
			continue // the empty image: nothing to pin
		}
		if !regexp.MustCompile(`:[0-9][^:]*$|:[a-z0-9.-]*[0-9][a-z0-9.-]*$|@sha256:`).MatchString(img) || strings.HasSuffix(img, ":latest") {
			t.Errorf("image %s is not pinned to a version", img)
		}
	}
	if !strings.Contains(string(docker), "-X github.com/flowfabric/ffdelay/commands.Version=${VERSION}") {
		t.Error("the Docker image does not set ffdelay's version (it would report dev)")
	}
	if !strings.Contains(string(docker), "CGO_ENABLED=0") {
		t.Error("Dockerfile does not build a static binary")
	}
	// The examples' arguments are flags ffdelay takes: a usage error would
	// exit 2; with no server the watch loop fails its one cycle (exit 1).
	var stdout, stderr strings.Builder
	args := []string{"ffdelay", "promote", "--watch", "--quiet", "--max-cycles", "1", "--url", "redis://127.0.0.1:1", "--listen", "127.0.0.1:0"}
	if code := commands.Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, nil); code != 1 {
		t.Errorf("the examples' arguments: exit %d, want 1 (a failed cycle, not a usage error); stderr %s", code, stderr.String())
	}
}
