package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

// readmeFailureRows reads README's "Failure behaviour" table: situation ->
// its cells (list/inspect/check, promote once, promote --watch).
func readmeFailureRows(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Failure behaviour\n")
	if !ok {
		t.Fatal("README has no Failure behaviour section")
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "|---") {
			if len(rows) > 0 && !strings.HasPrefix(line, "|") {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) == 4 {
			rows[cells[0]] = cells[1:]
		}
	}
	return rows
}

// The README's failure table says what each command does; these rows are
// reproduced against real servers and fake ones, and every exit code
// measured must be the one the row's cell names for that command.
func TestReadmeFailureTable(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	rows := readmeFailureRows(t)
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, c := fftest.NewFlowFabric(t, bins[0])
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, 4); err != nil {
		t.Fatal(err)
	}
	fake, err := fftest.StartFakeServer([]byte("HTTP/1.1 400 Bad Request\r\n\r\n<!DOCTYPE html>"))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	for _, cmd := range []string{
		"ACL SETUSER pinger on >pinger-pw ~ff:* -@all +ping +hello",
	} {
		args := []any{}
		for _, f := range strings.Fields(cmd) {
			args = append(args, f)
		}
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	id := "{fp:1}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// One execution, not yet due, for inspect to find.
	if _, err := fftest.Seed(ctx, c, now, []fftest.Exec{{Partition: 1, Shape: fftest.Future, ID: id}}); err != nil {
		t.Fatal(err)
	}
	commands := map[string][]string{
		"list": {"list"}, "inspect": {"inspect", id}, "check": {"check"},
		"promote": {"promote"}, "watch": {"promote", "--watch", "--max-cycles", "2", "--interval", "100ms"},
	}
	for _, tc := range []struct {
		row   string
		url   string
		setup func()
	}{
		{row: "server unreachable, TLS certificate not trusted or refused", url: "redis://127.0.0.1:1"},
		{row: "not a Redis/Valkey server, TLS mismatch, no such database", url: "redis://" + fake.Addr()},
		{row: "authentication refused", url: "redis://pinger:wrong@" + s.Addr},
		{row: "a command refused (ACL NOPERM)", url: "redis://pinger:pinger-pw@" + s.Addr},
		{row: "`flowfabric` library missing", url: "redis://" + s.Addr, setup: func() {
			if err := c.Do(ctx, "FUNCTION", "FLUSH").Err(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		cells, ok := rows[tc.row]
		if !ok {
			t.Errorf("README's failure table has no row %q", tc.row)
			continue
		}
		if tc.setup != nil {
			tc.setup()
		}
		for _, name := range []string{"list", "inspect", "check", "promote", "watch"} {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, append(commands[name], "--url", tc.url, "--timeout", "1s")...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := exitCodeOf(cmd.Run())
			cell := cells[0]
			switch name {
			case "promote":
				cell = cells[1]
			case "watch":
				cell = cells[2]
			}
			if !cellSays(cell, name, code) {
				t.Errorf("%s: %s exits %d, but README says %q; stderr %s", tc.row, name, code, cell, tail(stderr.String(), 300))
			}
		}
	}
}

// cellSays reports whether a README cell states exit code for command: a
// cell that names commands ("`list`, `inspect`: exit 3; `check`: ... exit
// 1") is read per command; a watch cell that says the failure is reported
// and retried stands for the exit 1 of a loop whose last cycle failed.
func cellSays(cell, command string, code int) bool {
	part := cell
	for _, p := range strings.Split(cell, ";") {
		if strings.Contains(p, "`"+command+"`") {
			part = p
		}
	}
	if command == "watch" && code == 1 && strings.Contains(part, "retried") {
		return true
	}
	m := regexp.MustCompile(`exit (\d+)`).FindAllStringSubmatch(part, -1)
	for _, x := range m {
		if x[1] == fmt.Sprint(code) {
			return true
		}
	}
	return false
}

// README's examples show output: each "$ ffdelay ..." block is run
// against a server seeded like the examples (two registered lanes, one
// unregistered, a stuck and a misindexed execution), and what the block
// shows must be what the command prints now: the same table headers, the
// same check steps in the same order, the same inspect fields.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	s, c := fftest.NewFlowFabric(t, bins[0])
	ctx := context.Background()
	if err := fftest.SetPartitions(ctx, c, 16); err != nil {
		t.Fatal(err)
	}
	if err := fftest.RegisterLanes(ctx, c, "default", "payments"); err != nil {
		t.Fatal(err)
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	stuckID := "{fp:3}:40646a14-037f-4485-8b41-c36b1e359e15"
	execs := []fftest.Exec{{Partition: 3, Shape: fftest.NoDelayUntil, ID: stuckID}, {Partition: 5, Lane: "payments", Shape: fftest.PastEligible},
		{Partition: 2, Lane: "reports", Shape: fftest.Due}}
	for i := 0; i < 40; i++ {
		execs = append(execs, fftest.Exec{Partition: i % 16, Lane: []string{"default", "payments"}[i%2], Shape: fftest.Due})
	}
	if _, err := fftest.Seed(ctx, c, now, execs); err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```\n\\$ (ffdelay [^\n]*)\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d example blocks in README", len(blocks))
	}
	header := regexp.MustCompile(`^[A-Z][A-Z ()]+$`)
	checkRow := regexp.MustCompile(`^(pass|warn|fail) +(\w+) `)
	field := regexp.MustCompile(`^  ([a-z_ ]+?)  +`)
	fields := strings.Fields
	for _, blk := range blocks {
		args := fields(strings.ReplaceAll(blk[1], "'", ""))[1:]
		for i := 0; i < len(args); i++ {
			if args[i] == "--url" {
				args = append(args[:i], args[i+2:]...)
			}
		}
		out, _ := exec.Command(bin, append(args, "--url", "redis://"+s.Addr, "--color", "never")...).CombinedOutput()
		got := string(out)
		norm := func(s string) string { return strings.Join(fields(s), " ") }
		var steps []string
		for _, line := range strings.Split(blk[2], "\n") {
			switch {
			case header.MatchString(line) && len(fields(line)) > 1:
				if !strings.Contains(norm(got), norm(line)) {
					t.Errorf("README's %q shows the header %q; the command prints:\n%s", blk[1], line, got)
				}
			case checkRow.MatchString(line):
				steps = append(steps, checkRow.FindStringSubmatch(line)[2])
			case args[0] == "inspect" && field.MatchString(line):
				name := strings.TrimSpace(field.FindStringSubmatch(line)[1])
				if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `  +`).MatchString(got) {
					t.Errorf("README's inspect example shows the field %q; the command prints:\n%s", name, got)
				}
			}
		}
		if len(steps) > 0 {
			var printed []string
			for _, line := range strings.Split(got, "\n") {
				if m := checkRow.FindStringSubmatch(line); m != nil {
					printed = append(printed, m[2])
				}
			}
			if strings.Join(steps, " ") != strings.Join(printed, " ") {
				t.Errorf("README's check example shows the steps %v; the command prints %v", steps, printed)
			}
		}
	}
}
