// Package output renders ffdelay's results: aligned tables for people, JSON
// and NDJSON for scripts. It is the only package that formats; it writes to
// the writers it is given and does no other I/O.
package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/fatih/color"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Format is one of the output formats of the contract.
type Format string

// Formats.
const (
	Table  Format = "table"
	JSON   Format = "json"
	NDJSON Format = "ndjson"
)

// ParseFormat validates a -o value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Table, JSON, NDJSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q: use table, json or ndjson", s)
}

// Printer writes data to Out and messages to Err.
type Printer struct {
	Format Format
	Quiet  bool
	out    *bufio.Writer
	errw   io.Writer
	color  bool
	// log, when set (--log-format json), takes every message meant for
	// stderr as a structured line.
	log *slog.Logger
	// encErr is the first value that could not be encoded as JSON: the
	// run must not end with exit 0 on a document that lacks it.
	encErr error
	// width is the terminal's width in columns (0: not a terminal).
	width int
}

// SetWidth tells the printer the terminal's width, for tables whose long
// cells wrap (0: no terminal, nothing wraps).
func (p *Printer) SetWidth(w int) { p.width = w }

// SetLogger sends warnings, notes and errors to l as JSON lines (with
// time, level, msg and fields) instead of ffdelay's own stderr format.
func (p *Printer) SetLogger(l *slog.Logger) { p.log = l }

// LogCycle writes a watch cycle's structured line: at debug level when the
// cycle was idle (so a quiet standby does not log a line per interval),
// at info level otherwise.
func (p *Printer) LogCycle(idle bool, msg string, args ...any) {
	if p.log == nil {
		return
	}
	if idle {
		p.log.Debug(msg, args...)
		return
	}
	p.log.Info(msg, args...)
}

// EncodeErr is the first JSON encoding error of the run, if any.
func (p *Printer) EncodeErr() error { return p.encErr }

func (p *Printer) noteEncodeErr(err error) {
	if p.encErr == nil {
		p.encErr = err
	}
}

// New returns a printer. useColor is decided once by the caller from the
// real writer, NO_COLOR and --color.
func New(out, errw io.Writer, format Format, useColor, quiet bool) *Printer {
	return &Printer{Format: format, Quiet: quiet, out: bufio.NewWriterSize(out, 64<<10), errw: errw, color: useColor}
}

// Flush writes buffered data out.
func (p *Printer) Flush() error { return p.out.Flush() }

// Colored reports whether the output is coloured (--color, NO_COLOR, a
// terminal).
func (p *Printer) Colored() bool { return p.color }

// Machine reports whether output is JSON or NDJSON.
func (p *Printer) Machine() bool { return p.Format != Table }

// Warn prints a warning on stderr.
func (p *Printer) Warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.log != nil {
		p.log.Warn(msg)
		return
	}
	if p.Machine() {
		p.errJSON(map[string]any{"warning": msg})
		return
	}
	msg = Safe(msg)
	fmt.Fprintln(p.errw, p.paint(color.FgYellow, "warning: ")+msg)
}

// Note prints a status line on stderr, unless quiet.
func (p *Printer) Note(format string, args ...any) {
	if p.Quiet {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if p.log != nil {
		p.log.Info(msg)
		return
	}
	if p.Machine() {
		p.errJSON(map[string]any{"note": msg})
		return
	}
	msg = Safe(msg)
	fmt.Fprintln(p.errw, msg)
}

// Error prints one line saying what went wrong and what to do.
func (p *Printer) Error(err error, code int) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	if p.log != nil {
		p.log.Error(msg, "exit_code", code)
		return
	}
	if p.Machine() {
		p.errJSON(map[string]any{"error": msg, "exit_code": code})
		return
	}
	fmt.Fprintln(p.errw, p.paint(color.FgRed, "ffdelay: ")+Safe(msg))
}

func (p *Printer) errJSON(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(p.errw, string(b))
}

func (p *Printer) paint(attr color.Attribute, s string) string {
	if !p.color || s == "" {
		return s
	}
	c := color.New(attr)
	c.EnableColor()
	return c.Sprint(s)
}

func (p *Printer) bold(s string) string {
	if !p.color {
		return s
	}
	c := color.New(color.Bold)
	c.EnableColor()
	return c.Sprint(s)
}

// line writes one NDJSON object with a type field first.
func (p *Printer) line(typ string, v any) {
	b, err := jsonMarshal(v)
	if err != nil {
		p.noteEncodeErr(err)
		b = []byte("{}")
	}
	p.out.WriteString(`{"type":"` + typ + `"`)
	if len(b) > 2 {
		p.out.WriteByte(',')
		p.out.Write(b[1:])
	} else {
		p.out.WriteByte('}')
	}
	p.out.WriteByte('\n')
}

func (p *Printer) writeJSON(v any) {
	b, err := jsonMarshal(v)
	if err != nil {
		// Keep the document valid; the run fails on the error.
		p.noteEncodeErr(err)
		b = []byte("null")
	}
	p.out.Write(b)
}

// table renders rows aligned, without borders, numbers right-aligned.
func (p *Printer) table(header []string, rows [][]string, right map[int]bool) {
	var buf bytes.Buffer
	align := make([]tw.Align, len(header))
	for i := range align {
		align[i] = tw.AlignLeft
		if right[i] {
			align[i] = tw.AlignRight
		}
	}
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "  ", Overwrite: true}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithTrimSpace(tw.Off),
	)
	t.Header(header)
	for _, r := range rows {
		t.Append(r)
	}
	t.Render()
	for i, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		l = strings.TrimRight(l, " ")
		if i == 0 {
			// Bold after layout, so the padding stays outside the escape
			// codes and trailing blanks can be trimmed.
			l = p.bold(l)
		}
		p.out.WriteString(l + "\n")
	}
}

// ErrWriter is where progress and messages go (stderr).
func (p *Printer) ErrWriter() io.Writer { return p.errw }

// Discard returns a printer that writes nothing.
func Discard() *Printer { return New(io.Discard, io.Discard, Table, false, true) }
