package output

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// In an 80-column terminal, check's long details wrap under their own
// column: no line is wider than the terminal, and every continuation line
// starts where the details do.
func TestCheckDetailsWrapInTheTerminal(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, &bytes.Buffer{}, Table, false, false)
	p.SetWidth(80)
	stuck := Stuck(Warn, StuckFinding{Due: 273, Examined: 273, Repairable: 2, Examples: []StuckExample{
		{ExecutionID: "{fp:3}:40646a14-037f-4485-8b41-c36b1e359e15", Reason: "no delay_until in the core (resumed with a delay): ff_promote_delayed fails on it forever; run promote --repair"},
	}})
	p.Checks(CheckReport{OK: true, Checks: []Check{ConnectionOK("127.0.0.1:6379", false, false), stuck}})
	p.Flush()
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	detailAt := strings.Index(lines[0], "DETAIL")
	continued := 0
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("a line of %d columns in an 80-column terminal: %q", n, l)
		}
		if strings.HasPrefix(l, strings.Repeat(" ", detailAt)) && strings.TrimSpace(l) != "" {
			continued++
		}
	}
	if continued < 2 {
		t.Errorf("the stuck detail did not wrap under DETAIL (column %d):\n%s", detailAt, out.String())
	}
	// Not a terminal: nothing wraps, one line per check.
	out.Reset()
	p = New(&out, &bytes.Buffer{}, Table, false, false)
	p.Checks(CheckReport{OK: true, Checks: []Check{stuck}})
	p.Flush()
	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Errorf("without a terminal, %d lines (want header, row, blank, verdict):\n%s", n, out.String())
	}
}
