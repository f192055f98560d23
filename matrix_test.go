package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

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
