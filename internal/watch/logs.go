package watch

// What the loop says on stderr about leadership, stuck executions and lanes
// outside its scope: each when it changes, not every cycle.

import (
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
)

// logStuck says, for each execution, when it became stuck, that it is
// still stuck (at most once per maxSitOut) and when it recovered; past
// maxEventLines of a kind in one cycle, one line counts the rest.
func (s *Service) logStuck(events []output.StuckEvent) {
	shown := map[output.StuckKind]int{}
	for _, e := range events {
		if shown[e.Kind]++; shown[e.Kind] > maxEventLines {
			continue
		}
		e.Cap = maxSitOut
		s.Printer.Stuck(e)
	}
	for _, kind := range []output.StuckKind{output.BecameStuck, output.StillStuck, output.Recovered} {
		if n := shown[kind]; n > maxEventLines {
			s.Printer.MoreStuck(kind, n-maxEventLines)
		}
	}
}

// logFollowing says that this replica follows another's lease when it
// starts to, and again every followRemind while it does.
func (s *Service) logFollowing() {
	if s.Lease.Held() || !s.Lease.heldElsewhere() {
		s.followSince = time.Time{}
		return
	}
	now := time.Now()
	if s.followSince.IsZero() {
		s.followSince, s.followLogged = now, time.Time{}
	}
	if s.followLogged.IsZero() || now.Sub(s.followLogged) >= followRemind {
		s.followLogged = now
		s.Printer.Following(s.Lease.Key, s.followSince, now)
	}
}

// logOutside says when due work in lanes outside the scope first shows,
// when the lanes change, and when it is gone.
func (s *Service) logOutside(o model.OutOfScope) {
	var lanes []string
	for _, l := range o.Lanes {
		if l.Due > 0 {
			lanes = append(lanes, l.Lane)
		}
	}
	key := strings.Join(lanes, "\x00")
	if key == s.outside {
		return
	}
	had := s.outside != ""
	s.outside = key
	if len(lanes) == 0 {
		if had {
			s.Printer.OutOfScopeGone()
			s.Printer.OutOfScopeLine(o)
		}
		return
	}
	s.Printer.OutOfScope(o)
	s.Printer.OutOfScopeLine(o)
}

// logLease says each change of leadership since the last call, and why.
func (s *Service) logLease() {
	for _, c := range s.Lease.drain() {
		switch {
		case c.held:
			s.Printer.Note("leader: %s", c.why)
		case c.why == releasedOnShutdown:
			s.Printer.Note("stepped down: the lease was %s", c.why)
		default:
			s.Printer.Warn("no longer the leader: %s", c.why)
		}
	}
}
