package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

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
