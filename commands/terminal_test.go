package commands

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// With a terminal, --color auto colours table output unless NO_COLOR is
// set; --color always wins over NO_COLOR. The usage error after the output
// is set up is printed by the printer, so its prefix shows the decision.
func TestColorDecision(t *testing.T) {
	for _, tc := range []struct {
		terminal bool
		color    string
		noColor  string
		want     bool
	}{
		{true, "auto", "", true},
		{false, "auto", "", false},
		{true, "auto", "1", false},
		{false, "always", "1", true},
		{true, "never", "", false},
	} {
		var stdout, stderr bytes.Buffer
		d := &deps{stdout: &stdout, stderr: &stderr, env: map[string]string{"NO_COLOR": tc.noColor},
			terminal: func(io.Writer) bool { return tc.terminal }}
		code := run(context.Background(), []string{"ffdelay", "list", "--color", tc.color, "--partitions", "x"}, d)
		if code != ExitUsage {
			t.Fatalf("%+v: exit %d, want %d", tc, code, ExitUsage)
		}
		if got := strings.Contains(stderr.String(), "\x1b["); got != tc.want {
			t.Errorf("%+v: coloured = %v, want %v (stderr %q)", tc, got, tc.want, stderr.String())
		}
	}
}

// --progress auto shows a bar only on a terminal, never with -q or in a
// watch loop; always and never are what they say.
func TestProgressDecision(t *testing.T) {
	for _, tc := range []struct {
		terminal bool
		args     []string
		want     bool
	}{
		{true, nil, true},
		{false, nil, false},
		{true, []string{"-q"}, false},
		{true, []string{"--watch"}, false},
		{false, []string{"--progress", "always"}, true},
		{true, []string{"--progress", "never"}, false},
	} {
		d := &deps{stdout: io.Discard, stderr: io.Discard, env: map[string]string{}, terminal: func(io.Writer) bool { return tc.terminal }}
		var got bool
		var min int64
		app := newApp(context.Background(), d)
		for _, c := range app.Commands {
			if c.Name == "promote" {
				c.Action = func(c *cli.Context) error {
					o, err := parsePromoteOptions(c, d)
					got, min = o.Progress, o.ProgressMin
					return err
				}
			}
		}
		args := append([]string{"ffdelay", "promote"}, tc.args...)
		if err := app.RunContext(context.Background(), reorderArgs(app, args)); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got != tc.want {
			t.Errorf("terminal=%v %v: progress %v, want %v", tc.terminal, tc.args, got, tc.want)
		}
		// auto waits for a big backlog; always shows a bar for any.
		if auto := len(tc.args) == 0 || tc.args[0] != "--progress"; got && auto != (min > 0) {
			t.Errorf("terminal=%v %v: progress threshold %d", tc.terminal, tc.args, min)
		}
	}
}
