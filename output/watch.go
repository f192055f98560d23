package output

import (
	"fmt"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
)

// StuckKind is what a watch loop says about an execution that fails cycle
// after cycle.
type StuckKind int

// The three things said about a stuck execution: once when it becomes
// stuck, a reminder at most once per backoff cap, once when it recovers.
const (
	BecameStuck StuckKind = iota
	StillStuck
	Recovered
)

// StuckEvent is one line about a stuck execution.
type StuckEvent struct {
	Kind   StuckKind
	Result model.Result
	// Since is how long it has been stuck; Attempts how often it was tried.
	Since    time.Duration
	Attempts int
	// Outcome is how it recovered: its outcome when it was tried again,
	// "" when it left its delayed set (promoted, repaired or cleaned by
	// someone else).
	Outcome model.Outcome
	// Cap is the longest sit-out between two attempts.
	Cap time.Duration
}

// Stuck writes one line on stderr about a stuck execution, with its fields
// as structured attributes under --log-format json.
func (p *Printer) Stuck(e StuckEvent) {
	r := word(e.Result)
	id := Safe(r.ExecutionID)
	fields := []any{"execution_id", r.ExecutionID, "partition", r.Partition, "lane", r.Lane, "outcome", string(r.Outcome)}
	switch e.Kind {
	case BecameStuck:
		p.event(true, fmt.Sprintf("stuck: %s (partition %d, lane %s): %s; retried after 10, 20, 40... cycles, at most %s apart (ffdelay inspect %s)",
			id, r.Partition, Safe(r.Lane), Safe(failureText(r)), HumanDuration(e.Cap), id), fields...)
	case StillStuck:
		p.event(true, fmt.Sprintf("still stuck after %s (%s): %s: %s", HumanDuration(e.Since), plural(e.Attempts, "attempt"), id, Safe(failureText(r))),
			append(fields, "stuck_ms", e.Since.Milliseconds(), "attempts", e.Attempts)...)
	case Recovered:
		how := "it left its delayed set (promoted, repaired or cleaned elsewhere)"
		if e.Outcome != "" {
			how = string(e.Outcome)
		}
		fields[len(fields)-1] = string(e.Outcome)
		p.event(false, fmt.Sprintf("no longer stuck after %s (%s): %s: %s", HumanDuration(e.Since), plural(e.Attempts, "attempt"), id, how),
			append(fields, "stuck_ms", e.Since.Milliseconds(), "attempts", e.Attempts)...)
	}
}

// MoreStuck counts the lines of a kind one cycle left out.
func (p *Printer) MoreStuck(kind StuckKind, n int) {
	what := map[StuckKind]string{BecameStuck: "became stuck", StillStuck: "are still stuck", Recovered: "are no longer stuck"}[kind]
	p.event(kind != Recovered, fmt.Sprintf("... and %s more %s this cycle (ffdelay promote --dry-run lists the stuck ones)", count(int64(n)), what))
}

// failureText is a failed result's error, or its reason when there is none.
func failureText(r model.Result) string {
	if r.Error != "" {
		return r.Error
	}
	return r.Reason
}

// Following says that this replica follows another's lease, and since when.
func (p *Printer) Following(key string, since time.Time, now time.Time) {
	p.event(false, fmt.Sprintf("following: the lease %s is held by another replica (since %s, %s ago); this replica reads the backlog, serves its metrics and takes over if the lease lapses",
		Safe(key), since.UTC().Format("15:04:05Z"), HumanDuration(now.Sub(since))), "lease", key, "following_ms", now.Sub(since).Milliseconds())
}

// OutOfScope warns that lanes outside the scope hold due work: on stderr,
// once per run, or (watch) when the lanes first show or change. It names
// each lane with its due count and says how to take it in.
func (p *Printer) OutOfScope(o model.OutOfScope) {
	var parts []string
	var names []string
	unregistered := false
	for _, l := range o.Lanes {
		if l.Due == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s due)", Safe(l.Lane), count(l.Due)))
		names = append(names, l.Lane)
		unregistered = unregistered || !l.Registered
	}
	if len(parts) == 0 {
		return
	}
	where := "in a sample of the keyspace"
	if o.Complete {
		where = "in the keyspace"
	}
	why := "outside --lane"
	if unregistered {
		why = "not in ff:idx:lanes: the engine's promoter never promotes them unless FF_LANES names them"
	}
	p.event(true, fmt.Sprintf("due executions in lanes outside this scope, found %s: %s (%s); not promoted by this run: add --discover-lanes, or --lane %s",
		where, strings.Join(parts, ", "), why, Safe(strings.Join(names, ","))), "lanes", names)
}

// OutOfScopeLine writes, in a watch loop's NDJSON (or JSON) output, a line
// of type out_of_scope with the lanes outside the scope and their due
// counts: when they first show, change, or are gone (no lanes).
func (p *Printer) OutOfScopeLine(o model.OutOfScope) {
	if !p.Machine() {
		return
	}
	p.line("out_of_scope", o)
	p.out.Flush()
}

// OutOfScopeGone says that the lanes outside the scope hold nothing due
// any more.
func (p *Printer) OutOfScopeGone() {
	p.event(false, "no due executions in lanes outside this scope any more")
}

// event writes a warning (warn) or a note on stderr; under --log-format
// json, fields become the line's attributes.
func (p *Printer) event(warn bool, msg string, fields ...any) {
	if p.log != nil {
		if warn {
			p.log.Warn(msg, fields...)
		} else {
			p.log.Info(msg, fields...)
		}
		return
	}
	if warn {
		p.Warn("%s", msg)
		return
	}
	p.Note("%s", msg)
}
