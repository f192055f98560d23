package commands

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

// completionScript writes `ffdelay completion shell` to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	d := &deps{stdout: &stdout, stderr: &stderr, env: map[string]string{}}
	if code := run(context.Background(), []string{"ffdelay", "completion", shell}, d); code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, code, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "ffdelay."+shell)
	if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// completionCases are words typed so far and what completion must offer.
var completionCases = []struct {
	words []string // the last one is the word being completed
	want  []string
}{
	{[]string{"ffdelay", "prom"}, []string{"promote"}},
	{[]string{"ffdelay", "promote", "--dr"}, []string{"--dry-run"}},
	{[]string{"ffdelay", "promote", "--lease-"}, []string{"--lease-key", "--lease-ttl"}},
	{[]string{"ffdelay", "check", "--str"}, []string{"--strict"}},
	{[]string{"ffdelay", "list", "-o", ""}, []string{"table", "json", "ndjson"}},
	{[]string{"ffdelay", "promote", "--watch", "--color", "a"}, []string{"auto", "always"}},
	{[]string{"ffdelay", "promote", "--log-format", ""}, []string{"text", "json"}},
	{[]string{"ffdelay", "completion", ""}, []string{"bash", "zsh", "fish", "--help", "-h"}},
}

// checkCompletion compares what the function offered, as the shell shows
// it: zsh keeps only the offers that start with the word being typed
// (bash's compgen already did).
func checkCompletion(t *testing.T, shell, got string, words, want []string) {
	t.Helper()
	var g []string
	for _, w := range strings.Fields(got) {
		if strings.HasPrefix(w, words[len(words)-1]) {
			g = append(g, w)
		}
	}
	if strings.Join(g, " ") != strings.Join(want, " ") {
		t.Errorf("%s: %q completes to %q, want %q", shell, strings.Join(words, " "), g, want)
	}
}

// bash completes commands, each command's flags while one is being typed,
// and the values of the flags that take a fixed set.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		fftest.Skip(t, "bash is not on this machine")
	}
	script := completionScript(t, "bash")
	for _, tc := range completionCases {
		words := "(" + quoteWords(tc.words) + ")"
		prog := "source " + script + "; COMP_WORDS=" + words + "; COMP_CWORD=" + itoa(len(tc.words)-1) +
			`; _ffdelay_complete; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		checkCompletion(t, "bash", string(out), tc.words, tc.want)
	}
}

// zsh runs the same function through bashcompinit, as it does when a user
// presses TAB (in sh emulation, with zero-based arrays).
func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		fftest.Skip(t, "zsh is not on this machine (Debian package zsh; make deps installs it)")
	}
	script := completionScript(t, "zsh")
	for _, tc := range completionCases {
		prog := "source " + script + "; t() { emulate -L sh; setopt kshglob noshglob braceexpand; COMP_WORDS=(" + quoteWords(tc.words) +
			"); COMP_CWORD=" + itoa(len(tc.words)-1) + `; _ffdelay_complete; print -l -- "${COMPREPLY[@]}"; }; t`
		out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		checkCompletion(t, "zsh", string(out), tc.words, tc.want)
	}
}

// fish's script offers the same flags and values.
func TestFishCompletion(t *testing.T) {
	script, err := os.ReadFile(completionScript(t, "fish"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-n '__fish_seen_subcommand_from promote' -l dry-run",
		"-l output -x -a \"table json ndjson\" -s o",
		"-n '__fish_seen_subcommand_from completion' -a \"bash zsh fish\"",
	} {
		if !bytes.Contains(script, []byte(want)) && !strings.Contains(string(script), strings.Replace(want, ` -s o`, ``, 1)) {
			t.Errorf("fish script lacks %q", want)
		}
	}
}

func quoteWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return strings.Join(q, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }
