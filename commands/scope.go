package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

func scopeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagPartitions, Usage: "partition count `N` (default: ff:config:partitions, then $FF_FLOW_PARTITIONS, then 256)"},
		&cli.StringSliceFlag{Name: flagPartition, Usage: "only these partitions: `SPEC` like 7, 0-15 or 0-15,42"},
		&cli.StringSliceFlag{Name: flagLane, Usage: "only these lanes `NAME` (repeat or comma-separate; default: ff:idx:lanes + $FF_LANES + default)"},
		&cli.BoolFlag{Name: flagDiscoverLanes, Usage: "also SCAN for delayed sets of unregistered lanes"},
		&cli.StringFlag{Name: flagMaxDiscoveredLanes, Usage: "with --discover-lanes, work at most `N` unregistered lanes", Value: "1000"},
		&cli.StringFlag{Name: flagMetricsFile, Usage: "also write a Prometheus textfile to `PATH`"},
	}
}

// scopeOptions are the parsed scope flags.
type scopeOptions struct {
	Partitions    int // 0: from the server
	PartitionSpec []int
	Lanes         []string // empty: from the server
	Discover      bool
	MaxDiscovered int
	MetricsFile   string
	// Discovered, when set, stands in for a fresh SCAN (watch mode reuses
	// one for a while rather than walking the keyspace every cycle).
	Discovered    []redisops.DiscoveredSet
	envPartitions string
	envLanes      string
}

func parseScopeOptions(c *cli.Context, d *deps) (scopeOptions, error) {
	var o scopeOptions
	if s, ok := flagString(c, flagPartitions); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 65536 {
			return o, usageError("--partitions %q must be a number from 1 to 65536", s)
		}
		o.Partitions = n
	}
	if specs := strs(c, flagPartition); len(specs) > 0 {
		ps, err := parsePartitionSpec(strings.Join(specs, ","))
		if err != nil {
			return o, usageError("%v", err)
		}
		o.PartitionSpec = ps
	}
	if vals := strs(c, flagLane); len(vals) > 0 {
		lanes, err := parseLanes(vals)
		if err != nil {
			return o, usageError("%v", err)
		}
		o.Lanes = lanes
	}
	o.Discover, _ = boolean(c, flagDiscoverLanes)
	o.MaxDiscovered = 1000
	if v, ok := flagString(c, flagMaxDiscoveredLanes); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, usageError("--max-discovered-lanes %q must be a positive number", v)
		}
		o.MaxDiscovered = n
	}
	o.MetricsFile, _ = flagString(c, flagMetricsFile)
	if o.MetricsFile != "" {
		// Checked before any work is done, so a typo does not cost a run.
		dir := filepath.Dir(o.MetricsFile)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return o, usageError("--metrics-file %s: directory %s does not exist", o.MetricsFile, dir)
		}
		// The file is replaced by a rename: a device, FIFO or symlink
		// there (as root, /dev/null) must not be replaced by it.
		if fi, err := os.Lstat(o.MetricsFile); err == nil && !fi.Mode().IsRegular() {
			return o, usageError("--metrics-file %s exists and is not a regular file (%s): name a file node_exporter reads", o.MetricsFile, fi.Mode().Type())
		}
	}
	o.envPartitions = d.getenv("FF_FLOW_PARTITIONS")
	o.envLanes = d.getenv("FF_LANES")
	return o, nil
}

// resolvedScope is the scope plus what the server said about it.
type resolvedScope struct {
	model.Scope
	Registry redisops.Registry
	// CountSource says where the partition count came from.
	CountSource string
	// Discovered are all delayed sets SCAN found (with --discover-lanes).
	Discovered []redisops.DiscoveredSet
	// DiscoveredLanes are the lanes only SCAN knew of, probed where found.
	DiscoveredLanes []string
}

// AllLanes are the lanes in scope and the discovered ones, for display.
func (rs resolvedScope) allLanes() []string {
	out := append(append([]string{}, rs.Lanes...), rs.DiscoveredLanes...)
	sort.Strings(out)
	return out
}

// resolveScope reads the partition count and registered lanes from the
// server and applies the flags to them.
func resolveScope(ctx context.Context, client *redisops.Client, o scopeOptions, p *output.Printer) (resolvedScope, error) {
	reg, err := client.ReadRegistry(ctx)
	return scopeFromRegistry(ctx, client, o, p, reg, err)
}

// scopeFromRegistry is resolveScope with the registry already read (or
// its error).
func scopeFromRegistry(ctx context.Context, client *redisops.Client, o scopeOptions, p *output.Printer, reg redisops.Registry, err error) (resolvedScope, error) {
	if err != nil {
		return resolvedScope{}, err
	}
	rs := resolvedScope{Registry: reg}
	rs.Unregistered = map[string]bool{}
	rs.Count, rs.CountSource = partitionCount(o, reg, p)
	if rs.Partitions, err = partitionsInScope(o, rs.Count); err != nil {
		return rs, err
	}
	if len(o.Lanes) > 0 {
		rs.Lanes = o.Lanes
	} else {
		rs.Lanes = knownLanes(reg.Lanes, o.envLanes)
	}
	if o.Discover {
		err = addDiscovered(ctx, client, o, &rs, p)
	}
	return rs, err
}

// partitionCount is --partitions, else ff:config:partitions, else
// FF_FLOW_PARTITIONS, else FlowFabric's default, with where it came from.
func partitionCount(o scopeOptions, reg redisops.Registry, p *output.Printer) (int, string) {
	switch {
	case o.Partitions > 0:
		if reg.Config.Valid && o.Partitions < reg.Config.Count {
			p.Warn("--partitions %d is below the configured %d (%s): partitions %d to %d are not scanned", o.Partitions, reg.Config.Count, redisops.ConfigKey, o.Partitions, reg.Config.Count-1)
		}
		return o.Partitions, "--partitions"
	case reg.Config.Valid:
		return reg.Config.Count, redisops.ConfigKey
	}
	if n, err := strconv.Atoi(strings.TrimSpace(o.envPartitions)); err == nil && n > 0 && n <= 65536 {
		return n, "FF_FLOW_PARTITIONS"
	}
	why := "is missing"
	if reg.Config.Found {
		why = "holds " + strconv.Quote(reg.Config.Raw)
	}
	p.Warn("%s num_flow_partitions %s; assuming %d partitions (set --partitions or FF_FLOW_PARTITIONS)", redisops.ConfigKey, why, redisops.DefaultPartitions)
	return redisops.DefaultPartitions, "default"
}

// partitionsInScope is --partition, checked against the count, or every
// partition.
func partitionsInScope(o scopeOptions, count int) ([]int, error) {
	if len(o.PartitionSpec) == 0 {
		all := make([]int, count)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	for _, n := range o.PartitionSpec {
		if n >= count {
			return nil, usageError("--partition %d is out of range: there are %d partitions (0 to %d)", n, count, count-1)
		}
	}
	return o.PartitionSpec, nil
}

// addDiscovered adds what --discover-lanes found: sets of lanes nobody
// registered, and sets on partitions beyond the count. A discovered lane
// is probed only in the partitions where SCAN found its set (tenants can
// create many lanes; lanes times partitions would grow the work faster
// than the data), and at most MaxDiscovered new lanes are taken.
func addDiscovered(ctx context.Context, client *redisops.Client, o scopeOptions, rs *resolvedScope, p *output.Printer) error {
	found := o.Discovered
	if found == nil {
		var narrow []string
		if len(o.Lanes) > 0 {
			narrow = o.Lanes
		}
		var err error
		if found, err = client.DiscoverDelayedSets(ctx, narrow); err != nil {
			return err
		}
		if found == nil {
			found = []redisops.DiscoveredSet{}
		}
	}
	rs.Discovered = found
	known := set(rs.Lanes)
	if len(o.Lanes) == 0 {
		seen := map[string]bool{}
		for _, f := range found {
			if !known[f.Lane] && !seen[f.Lane] {
				seen[f.Lane] = true
				rs.DiscoveredLanes = append(rs.DiscoveredLanes, f.Lane)
			}
		}
		sort.Strings(rs.DiscoveredLanes)
	}
	if n := len(rs.DiscoveredLanes); n > o.MaxDiscovered {
		p.Warn("--discover-lanes found %d lanes nobody registered; working the first %d in name order and leaving %d out (raise --max-discovered-lanes)", n, o.MaxDiscovered, n-o.MaxDiscovered)
		rs.DiscoveredLanes = rs.DiscoveredLanes[:o.MaxDiscovered]
	}
	take, registered, inSpec := set(rs.DiscoveredLanes), set(rs.Registry.Lanes), set(rs.Partitions)
	for _, f := range found {
		if !known[f.Lane] && !take[f.Lane] {
			continue
		}
		if !registered[f.Lane] {
			rs.Unregistered[f.Lane] = true
		}
		switch {
		case f.Partition >= rs.Count && len(o.PartitionSpec) == 0:
			rs.Extra = append(rs.Extra, f)
		case take[f.Lane] && inSpec[f.Partition]:
			rs.Extra = append(rs.Extra, f)
		}
	}
	return nil
}

// set indexes a list for lookups.
func set[T comparable](list []T) map[T]bool {
	m := make(map[T]bool, len(list))
	for _, v := range list {
		m[v] = true
	}
	return m
}

// knownLanes is ff:idx:lanes plus FF_LANES plus "default", as the engine
// would see them.
func knownLanes(registered []string, envLanes string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(l string) {
		if model.ValidateLane(l) == nil && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for _, l := range registered {
		add(l)
	}
	for _, l := range strings.Split(envLanes, ",") {
		add(strings.TrimSpace(l))
	}
	add("default")
	sort.Strings(out)
	return out
}

// warnEmptyScope says what a run that found nothing may have missed: a
// server or database without any FlowFabric data (a wrong --url is not
// "nothing due"), or a --lane that exists nowhere (a typo). delayed counts
// the members of the sets read, per lane. It reports whether there was no
// FlowFabric data at all, so the caller says that instead of "nothing due".
func warnEmptyScope(p *output.Printer, o scopeOptions, rs resolvedScope, delayed map[string]int64) (noData bool) {
	var total int64
	for _, n := range delayed {
		total += n
	}
	if total == 0 && !rs.Registry.Config.Found && !rs.Registry.LanesFound {
		p.Warn("no FlowFabric data here: no %s, no %s and no delayed set in the partitions and lanes scanned (wrong server or database? check --url)", redisops.ConfigKey, redisops.LanesKey)
		return true
	}
	known := laneCandidates(o, rs, delayed)
	for _, l := range unknownLanes(o, rs, delayed) {
		if near := nearest(l, known); near != "" {
			p.Warn("no lane %q: it is neither registered (%s, FF_LANES) nor has a delayed set in the partitions scanned; did you mean %q?", l, redisops.LanesKey, near)
			continue
		}
		p.Warn("no lane %q: it is neither registered (%s, FF_LANES) nor has a delayed set in the partitions scanned (registered: %s)", l, redisops.LanesKey, strings.Join(known, ", "))
	}
	return false
}

// laneCandidates are the lanes a --lane typo is compared with: the
// registered ones, FF_LANES, "default" and those with delayed sets read.
func laneCandidates(o scopeOptions, rs resolvedScope, delayed map[string]int64) []string {
	known := knownLanes(rs.Registry.Lanes, o.envLanes)
	for l, n := range delayed {
		if n > 0 && !slices.Contains(known, l) {
			known = append(known, l)
		}
	}
	sort.Strings(known)
	return known
}

// withSuggestions adds "(did you mean X?)" to each unknown lane close to a
// known one.
func withSuggestions(unknown, known []string) []string {
	out := make([]string, len(unknown))
	for i, l := range unknown {
		out[i] = l
		if near := nearest(l, known); near != "" {
			out[i] = fmt.Sprintf("%s (did you mean %s?)", l, near)
		}
	}
	return out
}

// unknownLanes are the lanes --lane names that are neither registered
// (ff:idx:lanes, FF_LANES, "default") nor have a delayed set among those
// read: most likely typos.
func unknownLanes(o scopeOptions, rs resolvedScope, delayed map[string]int64) []string {
	known := map[string]bool{}
	for _, l := range knownLanes(rs.Registry.Lanes, o.envLanes) {
		known[l] = true
	}
	var out []string
	for _, l := range o.Lanes {
		if !known[l] && delayed[l] == 0 {
			out = append(out, l)
		}
	}
	return out
}
