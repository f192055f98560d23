package commands

// Lanes outside the scope: the delayed sets of lanes a run leaves out (the
// engine's blind spot when they are unregistered), looked for and counted.

import (
	"context"
	"sort"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
)

// laneSample is a look for delayed sets of lanes outside the scope (one
// SCAN step per primary), started before the scope is known so that its
// round trips run beside the others'.
type laneSample struct {
	done     chan struct{}
	found    []redisops.DiscoveredSet
	complete bool
	err      error
}

// sampleLanes starts the look, when the scope's lanes may leave some out
// (no --discover-lanes, no --lane); nil otherwise.
func sampleLanes(ctx context.Context, client *redisops.Client, o scopeOptions) *laneSample {
	if o.Discover || len(o.Lanes) > 0 {
		return nil
	}
	ls := &laneSample{done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		ls.found, ls.complete, ls.err = client.SampleDelayedSets(ctx)
	}()
	return ls
}

// outsideSets waits for the look and returns the sets found whose lane the
// scope leaves out, and whether the whole keyspace was seen.
func (ls *laneSample) outsideSets(rs resolvedScope) (sets []redisops.DiscoveredSet, complete bool, err error) {
	if ls == nil {
		return nil, true, nil
	}
	<-ls.done
	if ls.err != nil {
		return nil, false, ls.err
	}
	return setsOutside(rs, ls.found), ls.complete, nil
}

// outside is outsideSets' lanes.
func (ls *laneSample) outside(rs resolvedScope) (lanes []string, complete bool, err error) {
	sets, complete, err := ls.outsideSets(rs)
	seen := map[string]bool{}
	for _, s := range sets {
		if !seen[s.Lane] {
			seen[s.Lane] = true
			lanes = append(lanes, s.Lane)
		}
	}
	sort.Strings(lanes)
	return lanes, complete, err
}

// setsOutside are the sets of found whose lane rs leaves out.
func setsOutside(rs resolvedScope, found []redisops.DiscoveredSet) []redisops.DiscoveredSet {
	in := set(rs.allLanes())
	var out []redisops.DiscoveredSet
	for _, f := range found {
		if !in[f.Lane] {
			out = append(out, f)
		}
	}
	return out
}

// Bounds on what outOfScope counts: the sets read (one pipelined pass of
// four cheap commands each) and the lanes reported, largest due first
// (each lane is a metric series on a standby).
const (
	maxOutOfScopeSets  = 4096
	maxOutOfScopeLanes = 100
)

// outOfScope counts the due work in sets, delayed sets outside the scope
// (one pipelined read per primary), by lane, most due first.
func outOfScope(ctx context.Context, client *redisops.Client, rs resolvedScope, sets []redisops.DiscoveredSet, complete bool) (model.OutOfScope, error) {
	out := model.OutOfScope{Lanes: []model.LaneDue{}, Complete: complete}
	if len(sets) == 0 {
		return out, nil
	}
	if len(sets) > maxOutOfScopeSets {
		sets, out.Complete = sets[:maxOutOfScopeSets], false
	}
	list, err := client.NewList(ctx, model.Scope{Count: rs.Count, Extra: sets}, nil)
	if err != nil {
		return out, err
	}
	groups, err := list.Groups(ctx, 0)
	if err != nil {
		return out, err
	}
	registered := set(rs.Registry.Lanes)
	byLane := map[string]*model.LaneDue{}
	for _, g := range groups {
		l := byLane[g.Lane]
		if l == nil {
			l = &model.LaneDue{Lane: g.Lane, Registered: registered[g.Lane]}
			byLane[g.Lane] = l
		}
		l.Due += g.Due
		l.Delayed += g.Delayed
		l.Partitions++
	}
	for _, l := range byLane {
		out.Lanes = append(out.Lanes, *l)
	}
	sort.Slice(out.Lanes, func(i, j int) bool {
		if out.Lanes[i].Due != out.Lanes[j].Due {
			return out.Lanes[i].Due > out.Lanes[j].Due
		}
		return out.Lanes[i].Lane < out.Lanes[j].Lane
	})
	if len(out.Lanes) > maxOutOfScopeLanes {
		out.Lanes, out.Complete = out.Lanes[:maxOutOfScopeLanes], false
	}
	return out, nil
}

// warn finishes the look and says, in one line, that delayed sets exist
// for lanes rs leaves out; a user who may not SCAN gets no look. nil warns
// nothing.
func (ls *laneSample) warn(p *output.Printer, rs resolvedScope) error {
	outside, complete, err := ls.outside(rs)
	if err != nil && redisops.KindOf(err) != redisops.KindNoPerm {
		return err
	}
	warnOutsideScope(p, outside, complete)
	return nil
}

// warnOutsideScope says, in one line, that delayed sets exist for lanes
// the run left out.
func warnOutsideScope(p *output.Printer, lanes []string, complete bool) {
	if len(lanes) == 0 {
		return
	}
	where := "in a sample of the keyspace"
	if complete {
		where = "in the keyspace"
	}
	p.Warn("delayed sets of lanes outside the scope were found %s: %s (not registered in %s: the engine never promotes them); add --discover-lanes or --lane", where, strings.Join(lanes, ", "), redisops.LanesKey)
}
