package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

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
