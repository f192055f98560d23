package output

import (
	"fmt"

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

// Check is one health check.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
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
		var rows [][]string
		for _, c := range r.Checks {
			rows = append(rows, []string{p.status(c.Status), c.Name, Safe(c.Detail)})
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
