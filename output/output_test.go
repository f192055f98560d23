package output

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const now = int64(1795626506901)

func ptr(v int64) *int64 { return &v }

func groups() []model.Group {
	return []model.Group{
		{Partition: 7, Lane: "default", Delayed: 1200, Due: 1180, OldestDueMs: ptr(now - 252_000), MaxOverdueMs: 252_000, NextDueMs: ptr(now + 3_000), ServerTimeMs: now,
			Executions: []model.DueExecution{{ExecutionID: "{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", DelayUntilMs: now - 252_000, OverdueMs: 252_000}}},
		{Partition: 128, Lane: "payments eu", Delayed: 3, Due: 3, OldestDueMs: ptr(now - 850), MaxOverdueMs: 850, ServerTimeMs: now, Unregistered: true},
	}
}

func results() []model.Result {
	return []model.Result{
		{Partition: 7, Lane: "default", ExecutionID: "{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", Outcome: model.Promoted},
		{Partition: 7, Lane: "default", ExecutionID: "{fp:7}:1c9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", Outcome: model.Failed, Error: "ERR user_function:39: attempt to compare number with nil"},
		{Partition: 9, Lane: "payments eu", ExecutionID: "{fp:9}:2d9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", Outcome: model.NotDelayedCleaned},
		{Partition: 9, Lane: "payments eu", ExecutionID: "{fp:9}:3e9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", Outcome: model.Unconfirmed, Error: "no reply: the connection was lost after the call was sent"},
	}
}

func render(t *testing.T, format Format, color bool, fn func(p *Printer)) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	p := New(&out, &errb, format, color, false)
	fn(p)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func list(p *Printer) {
	w := p.BeginList(ListHeader{ServerTimeMs: now, Partitions: 256, Lanes: []string{"default", "payments eu"}, Executions: true})
	var totals model.ListTotals
	for _, g := range groups() {
		w.Group(g)
		totals.Delayed += g.Delayed
		totals.Due += g.Due
		totals.Groups++
	}
	w.End(totals)
}

func promote(p *Printer) {
	w := p.BeginPromote(PromoteHeader{ServerTimeMs: now})
	var totals model.PromoteTotals
	for _, r := range results() {
		w.Result(r)
		totals.Add(r.Outcome)
	}
	w.End(PromoteEnd{Totals: totals, Elapsed: 1500 * time.Millisecond})
}

func TestListGolden(t *testing.T) {
	golden(t, "list.table", render(t, Table, false, list))
	golden(t, "list.color", render(t, Table, true, list))
	golden(t, "list.json", render(t, JSON, false, list))
	golden(t, "list.ndjson", render(t, NDJSON, false, list))
}

func TestPromoteGolden(t *testing.T) {
	golden(t, "promote.table", render(t, Table, false, promote))
	golden(t, "promote.json", render(t, JSON, false, promote))
	golden(t, "promote.ndjson", render(t, NDJSON, false, promote))
}

// Streamed JSON is one valid document, NDJSON valid line by line.
func TestStreamedJSONIsValid(t *testing.T) {
	for _, fn := range []func(*Printer){list, promote} {
		if b := render(t, JSON, false, fn); !json.Valid(b) {
			t.Errorf("not valid JSON: %s", b)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(render(t, NDJSON, false, fn)), []byte("\n")) {
			if !json.Valid(line) {
				t.Errorf("not valid JSON: %s", line)
			}
		}
	}
}

// Without colour there is no escape sequence anywhere.
func TestNoColorMeansNoEscapes(t *testing.T) {
	for _, fn := range []func(*Printer){list, promote} {
		if b := render(t, Table, false, fn); bytes.Contains(b, []byte("\x1b[")) {
			t.Errorf("escape sequence without colour: %q", b)
		}
	}
	if b := render(t, Table, true, list); !bytes.Contains(b, []byte("\x1b[")) {
		t.Error("no colour with colour on")
	}
}
