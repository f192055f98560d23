package output

import (
	"fmt"
	"strings"

	"github.com/fatih/color"
)

// Status is a check's verdict.
type Status string

// Statuses.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one health check: its verdict, the human detail, and the
// numbers behind it for scripts (the measured value and the limit it was
// held to, in unit), where a check has them.
type Check struct {
	Name      string `json:"name"`
	Status    Status `json:"status"`
	Detail    string `json:"detail"`
	Value     *int64 `json:"value,omitempty"`
	Threshold *int64 `json:"threshold,omitempty"`
	Unit      string `json:"unit,omitempty"`
}

// withNumbers sets a check's value and limit (nil: none).
func (c Check) withNumbers(value int64, threshold *int64, unit string) Check {
	c.Value, c.Threshold, c.Unit = &value, threshold, unit
	return c
}

// CheckReport is the whole check run.
type CheckReport struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// Checks writes the check report.
func (p *Printer) Checks(r CheckReport) {
	if r.Checks == nil {
		r.Checks = []Check{}
	}
	switch p.Format {
	case JSON:
		p.writeJSON(r)
		p.out.WriteString("\n")
	case NDJSON:
		for _, c := range r.Checks {
			p.line("check", c)
		}
		p.line("summary", map[string]any{"ok": r.OK})
	default:
		// On a terminal the details wrap under their column instead of
		// the terminal folding them under the status.
		nameWidth := len("CHECK")
		for _, c := range r.Checks {
			nameWidth = max(nameWidth, len(c.Name))
		}
		detailWidth := 0
		if p.width > 0 {
			detailWidth = max(30, p.width-len("STATUS")-2-nameWidth-2)
		}
		var rows [][]string
		for _, c := range r.Checks {
			rows = append(rows, []string{p.status(c.Status), c.Name, wrapWords(Safe(c.Detail), detailWidth)})
		}
		p.table([]string{"STATUS", "CHECK", "DETAIL"}, rows, nil)
		verdict := p.paint(color.FgGreen, "OK")
		if !r.OK {
			verdict = p.paint(color.FgRed, "FAILED")
		}
		fmt.Fprintf(p.out, "\ndelayed promotion health: %s\n", verdict)
	}
}

func (p *Printer) status(s Status) string {
	switch s {
	case Pass:
		return p.paint(color.FgGreen, string(s))
	case Warn:
		return p.paint(color.FgYellow, string(s))
	}
	return p.paint(color.FgRed, string(s))
}

// wrapWords breaks s into lines of at most width runes at spaces (a word
// longer than width stays whole); width 0 leaves it as it is. Not
// ansi.Wordwrap (top's): it also breaks at hyphens, and an execution id in
// a detail would be cut in two where a person copies it.
func wrapWords(s string, width int) string {
	if width <= 0 || len([]rune(s)) <= width {
		return s
	}
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(s) {
		n := len([]rune(w))
		switch {
		case i == 0:
		case line+1+n > width:
			b.WriteByte('\n')
			line = 0
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += n
	}
	return b.String()
}
