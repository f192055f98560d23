package redisops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/redis/go-redis/v9"
)

// PartitionConfig is what ff:config:partitions says.
type PartitionConfig struct {
	// Count is the usable count: the stored value, or 256 when it is
	// missing, zero or not a number (as FlowFabric's clients do).
	Count int
	// Raw is the stored field; Found is false when the hash or field is missing.
	Raw   string
	Found bool
	// Valid is false when the stored value is 0 or garbage.
	Valid bool
}

// Registry is the server's own view of partitions and lanes.
type Registry struct {
	Config PartitionConfig
	// Lanes are the members of ff:idx:lanes, sorted; LanesFound is false
	// when the set does not exist (FlowFabric before 0.6).
	Lanes      []string
	LanesFound bool
	// Snapshot is the clock and library read alongside, on a standalone
	// server (nil in a cluster, or when the user may not read them).
	Snapshot *Snapshot
}

// ReadRegistry reads ff:config:partitions and ff:idx:lanes in one round
// trip. On a standalone server the same pipeline reads TIME and the
// flowfabric library, for the run that follows.
func (c *Client) ReadRegistry(ctx context.Context) (Registry, error) {
	var hget *redis.StringCmd
	var lanes *redis.StringSliceCmd
	var clock *redis.TimeCmd
	var libs *redis.FunctionListCmd
	var cluster *redis.StringCmd
	// Only the registry's own replies matter here: a user who may not run
	// FUNCTION LIST (or TIME) still gets a registry, and the later call
	// that needs them reports the refusal. So the pipeline's first error
	// is not looked at; each command's is.
	var perr error
	if c.single != nil {
		perr = c.pipeline(ctx, c.Addr(), c.single, func(p redis.Pipeliner) error {
			hget = p.HGet(ctx, ConfigKey, "num_flow_partitions")
			lanes = p.SMembers(ctx, LanesKey)
			cluster = p.Info(ctx, "cluster")
			clock = p.Time(ctx)
			libs = p.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: libraryName})
			return nil
		})
	} else {
		// The two keys carry no hash tag: each is read on the primary
		// the slot map names for it, at the same time.
		var lerr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, n, err := c.nodeForKey(ctx, LanesKey)
			if lerr = err; err == nil {
				lanes = n.SMembers(ctx, LanesKey)
			}
		}()
		_, n, err := c.nodeForKey(ctx, ConfigKey)
		if err == nil {
			hget = n.HGet(ctx, ConfigKey, "num_flow_partitions")
		}
		<-done
		if err = firstErr(err, lerr); err != nil {
			return Registry{}, err
		}
	}
	// A connection that could not be set up read nothing at all.
	var se *ServerError
	if errors.As(perr, &se) {
		return Registry{}, perr
	}
	if cluster != nil && strings.Contains(cluster.Val(), "cluster_enabled:1") {
		return Registry{}, &ServerError{Addr: c.Addr(), Kind: KindClusterNode, Err: errors.New("this node is part of a cluster, and --cluster was not given")}
	}
	if err := firstErr(hget.Err(), lanes.Err()); err != nil && !errNil(err) {
		return Registry{}, c.wrap(c.Addr(), err)
	}
	var r Registry
	if clock != nil {
		snap := &Snapshot{at: time.Now()}
		if t, err := clock.Result(); err == nil {
			snap.ClockMs = t.UnixMilli()
		}
		if l, err := libs.Result(); err == nil {
			snap.Libraries = []NodeLibrary{nodeLibrary(c.single.Options().Addr, l)}
		}
		r.Snapshot = snap
	}
	r.Config.Count = DefaultPartitions
	if raw, err := hget.Result(); err == nil {
		r.Config.Found, r.Config.Raw = true, raw
		if n, err := strconv.Atoi(strings.TrimSpace(raw)); err == nil && n > 0 && n <= 65536 {
			r.Config.Count, r.Config.Valid = n, true
		}
	}
	r.Lanes = lanes.Val()
	r.LanesFound = len(r.Lanes) > 0
	sort.Strings(r.Lanes)
	return r, nil
}

// scanCount is the COUNT hint of one SCAN step.
const scanCount = 1000

// DiscoveredSet is a delayed set found by SCAN.
type DiscoveredSet = model.PartitionLane

// SampleDelayedSets is a cheap look for delayed sets of lanes nobody
// registered, without --discover-lanes: one SCAN step per primary (COUNT
// 1000, in parallel), so the server examines about a thousand keys, not the
// keyspace. On a small database that is everything; on a large one a
// sample, and the caller says so. complete reports whether every primary's
// cursor came back to 0 (the whole keyspace was seen).
func (c *Client) SampleDelayedSets(ctx context.Context) (sets []DiscoveredSet, complete bool, err error) {
	var mu sync.Mutex
	seen := map[DiscoveredSet]bool{}
	complete = true
	err = c.forEachPrimary(ctx, func(ctx context.Context, addr string, n *redis.Client) error {
		keys, next, err := n.Scan(ctx, 0, delayedPattern, scanCount).Result()
		if err != nil {
			return c.wrap(addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		complete = complete && next == 0
		for _, k := range keys {
			if p, lane, ok := parseDelayedKey(k); ok {
				seen[DiscoveredSet{Partition: p, Lane: lane}] = true
			}
		}
		return nil
	})
	for s := range seen {
		sets = append(sets, s)
	}
	sortByLane(sets)
	return sets, complete, err
}

// DiscoverDelayedSets SCANs every primary for delayed sets, in COUNT batches
// so that a big keyspace is walked in small steps. lanes, when not empty,
// narrows the pattern to those lanes (their glob characters escaped).
func (c *Client) DiscoverDelayedSets(ctx context.Context, lanes []string) ([]DiscoveredSet, error) {
	patterns := []string{delayedPattern}
	if len(lanes) > 0 {
		patterns = patterns[:0]
		for _, l := range lanes {
			patterns = append(patterns, "ff:idx:{fp:*}:lane:"+escapeGlob(l)+":delayed")
		}
	}
	ch := make(chan DiscoveredSet, 1024)
	done := make(chan []DiscoveredSet)
	go func() {
		seen := map[DiscoveredSet]bool{}
		var out []DiscoveredSet
		for d := range ch {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
		done <- out
	}()
	err := c.forEachPrimary(ctx, func(ctx context.Context, addr string, n *redis.Client) error {
		// SCAN visits every key about once: a cursor that has not come
		// back to 0 after several times the keyspace in steps is a broken
		// server, not a big one.
		size, err := n.DBSize(ctx).Result()
		if err != nil {
			return c.wrap(addr, err)
		}
		maxSteps := size/scanCount*4 + 64
		for _, pat := range patterns {
			var cursor uint64
			for step := int64(0); ; step++ {
				if step > maxSteps {
					return &ServerError{Addr: addr, Kind: KindBadReply, Err: fmt.Errorf("SCAN did not finish after %d steps over %d keys: the server keeps returning a cursor", step, size)}
				}
				keys, next, err := n.Scan(ctx, cursor, pat, scanCount).Result()
				if err != nil {
					return c.wrap(addr, err)
				}
				for _, k := range keys {
					if p, lane, ok := parseDelayedKey(k); ok {
						ch <- DiscoveredSet{Partition: p, Lane: lane}
					}
				}
				if cursor = next; cursor == 0 {
					break
				}
			}
		}
		return nil
	})
	close(ch)
	out := <-done
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Lane < out[j].Lane
	})
	return out, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// DelayedSetWalk walks every primary's keyspace for delayed sets a few SCAN
// steps at a time, across the cycles of a watch loop: each Step costs at
// most its steps of COUNT 1000 per primary, whatever the keyspace's size,
// and a complete walk (every primary's cursor back to 0) replaces the sets
// the last one found. The zero value is ready.
type DelayedSetWalk struct {
	cursors map[string]uint64
	done    map[string]bool
	found   map[DiscoveredSet]bool
	last    []DiscoveredSet
	// Walks counts the complete walks.
	Walks int
}

// Sets are the delayed sets the last complete walk found (nil before one).
func (w *DelayedSetWalk) Sets() []DiscoveredSet { return w.last }

// StepWalk advances w by up to steps SCAN steps on each primary, in
// parallel, and reports whether a walk completed with this step.
func (c *Client) StepWalk(ctx context.Context, w *DelayedSetWalk, steps int) (bool, error) {
	if w.cursors == nil {
		w.cursors, w.done, w.found = map[string]uint64{}, map[string]bool{}, map[DiscoveredSet]bool{}
	}
	nodes, err := c.primaries(ctx)
	if err != nil {
		return false, err
	}
	var mu sync.Mutex
	err = parallel(nodes, func(n *redis.Client) error {
		addr := n.Options().Addr
		mu.Lock()
		cursor, finished := w.cursors[addr], w.done[addr]
		mu.Unlock()
		if finished {
			return nil
		}
		var sets []DiscoveredSet
		for step := 0; step < steps; step++ {
			keys, next, err := n.Scan(ctx, cursor, delayedPattern, scanCount).Result()
			if err != nil {
				return c.wrap(addr, err)
			}
			for _, k := range keys {
				if p, lane, ok := parseDelayedKey(k); ok {
					sets = append(sets, DiscoveredSet{Partition: p, Lane: lane})
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range sets {
			w.found[s] = true
		}
		w.cursors[addr] = cursor
		w.done[addr] = cursor == 0
		return nil
	})
	if err != nil {
		return false, err
	}
	for _, n := range nodes {
		if !w.done[n.Options().Addr] {
			return false, nil
		}
	}
	w.last = make([]DiscoveredSet, 0, len(w.found))
	for s := range w.found {
		w.last = append(w.last, s)
	}
	sortByLane(w.last)
	w.Walks++
	clear(w.cursors)
	clear(w.done)
	clear(w.found)
	return true, nil
}

// sortByLane orders sets by lane, then partition.
func sortByLane(sets []DiscoveredSet) {
	sort.Slice(sets, func(i, j int) bool {
		if sets[i].Lane != sets[j].Lane {
			return sets[i].Lane < sets[j].Lane
		}
		return sets[i].Partition < sets[j].Partition
	})
}
