package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// checkOptions are check's parsed flags.
type checkOptions struct {
	Scope      scopeOptions
	MaxOverdue time.Duration
	MaxDue     int64 // -1: off
	Strict     bool
}

// ffReleases maps the ff_version answers of released FlowFabric libraries
// to the releases that ship them.
var ffReleases = map[string]string{
	"15": "0.3.x-0.5.x",
	"26": "0.6-0.9",
	"27": "0.10-0.11",
	"28": "0.12",
	"31": "0.13",
	"34": "0.14-0.15",
}

func newCheckCommand(ctx context.Context, d *deps) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "health check of delayed promotion for CI and monitoring (exit 1 on failure)",
		UsageText: `ffdelay check [options]

Examples:
   ffdelay check                                 after a deploy: library loaded, nothing overdue
   ffdelay check --max-overdue 2m --max-due 1000 -o json
   ffdelay check --discover-lanes --strict       also fail on unregistered lanes and stuck entries`,
		Flags: append(scopeFlags(),
			&cli.StringFlag{Name: flagMaxOverdue, Usage: "fail when the oldest due execution is older than `D`", Value: "60s"},
			&cli.StringFlag{Name: flagMaxDue, Usage: "fail when more than `N` executions are due (default: off)"},
			&cli.BoolFlag{Name: flagStrict, Usage: "turn warnings into failures"},
		),
		Action: func(c *cli.Context) error {
			if err := setupOutput(c, d); err != nil {
				return err
			}
			opts, err := parseCheckOptions(c, d)
			if err != nil {
				return err
			}
			conn, err := connOptions(c, d)
			if err != nil {
				return err
			}
			return runCheck(ctx, opts, conn, d.printer)
		},
	}
}

func parseCheckOptions(c *cli.Context, d *deps) (checkOptions, error) {
	o := checkOptions{MaxDue: -1, Strict: c.Bool(flagStrict)}
	if c.NArg() > 0 {
		return o, usageError("check takes no arguments, got %q", c.Args().First())
	}
	scope, err := parseScopeOptions(c, d)
	if err != nil {
		return o, err
	}
	o.Scope = scope
	if o.MaxOverdue, err = parseDuration("--max-overdue", c.String(flagMaxOverdue)); err != nil {
		return o, usageError("%v", err)
	}
	if s := c.String(flagMaxDue); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return o, usageError("--max-due %q must be a number >= 0", s)
		}
		o.MaxDue = n
	}
	return o, nil
}

// checkRun is one run of check: what the steps found so far. After the
// connection, the steps run at the same time, each waiting only for what
// it reads: libOK once libReady is closed, scope once scopeReady is,
// groups once groupsReady is (each closed even when its step fails).
type checkRun struct {
	o       checkOptions
	client  *redisops.Client
	printer *output.Printer
	checks  []output.Check
	libOK   bool
	scope   resolvedScope
	groups  []model.Group
	sample  *laneSample

	libReady, scopeReady, groupsReady chan struct{}
	scopeOK, groupsOK                 bool

	// registry is read beside the connection check on a single server
	// (its pipeline asks INFO cluster too): done is closed when it is in.
	registry struct {
		done   chan struct{}
		client *redisops.Client
		reg    redisops.Registry
		err    error
	}
}

// waitScope waits for the scope; false when it could not be read.
func (k *checkRun) waitScope() bool {
	<-k.scopeReady
	return k.scopeOK
}

// waitGroups waits for the groups' figures; false when they could not be
// read.
func (k *checkRun) waitGroups() bool {
	<-k.groupsReady
	return k.groupsOK
}

// errNotRun stands for a step that waited for an earlier one that could
// not run; the report stops at the earlier one and never shows it.
var errNotRun = errors.New("an earlier check could not run")

// checkStep runs one check. It returns the check (with its own verdict) or
// an error when the step could not run at all; the names are the
// contract's.
type checkStep struct {
	name string
	run  func(ctx context.Context, k *checkRun) (output.Check, error)
	// discover marks steps that only run with --discover-lanes.
	discover bool
}

// checkSteps are check's steps, in the contract's order.
var checkSteps = []checkStep{
	{name: "connection", run: checkConnection},
	{name: "server_version", run: checkServerVersion},
	{name: "library", run: checkLibrary},
	{name: "ff_version", run: checkFFVersion},
	{name: "partitions_config", run: checkPartitionsConfig},
	{name: "lanes", run: checkLanes},
	{name: "overdue", run: checkOverdue},
	{name: "due", run: checkDue},
	{name: "stuck", run: checkStuck},
	{name: "permissions", run: checkPermissions},
	{name: "unregistered_lanes", run: checkUnregisteredLanes},
	{name: "partitions_beyond_count", run: checkPartitionsBeyondCount, discover: true},
}

// runCheck runs every check and prints the report. Exit 1 when a check
// fails; 3 only when the server cannot be reached or refuses us.
func runCheck(ctx context.Context, o checkOptions, conn redisops.Options, p *output.Printer) error {
	started := time.Now()
	k := &checkRun{o: o, client: redisops.New(conn), printer: p,
		libReady: make(chan struct{}), scopeReady: make(chan struct{}), groupsReady: make(chan struct{})}
	defer func() { k.client.Close() }()
	type stepResult struct {
		check output.Check
		err   error
	}
	var steps []checkStep
	for _, step := range checkSteps {
		if !step.discover || o.Scope.Discover {
			steps = append(steps, step)
		}
	}
	results := make([]stepResult, len(steps))
	// The registry is read while the connection is checked; the connection
	// comes first in the report, and it may turn the client into a cluster
	// client (the registry is then read again, from the cluster). Then every
	// step runs at once, so check waits for the longest chain of round
	// trips, not for their sum.
	k.registry.done, k.registry.client = make(chan struct{}), k.client
	go func() {
		defer close(k.registry.done)
		k.registry.reg, k.registry.err = k.registry.client.ReadRegistry(ctx)
	}()
	results[0].check, results[0].err = steps[0].run(ctx, k)
	<-k.registry.done
	if results[0].err == nil {
		k.sample = sampleLanes(ctx, k.client, o.Scope)
		var wg sync.WaitGroup
		for i := 1; i < len(steps); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i].check, results[i].err = steps[i].run(ctx, k)
			}()
		}
		wg.Wait()
		if k.sample != nil {
			<-k.sample.done
		}
	}
	var stop error
	for i, step := range steps {
		c, err := results[i].check, results[i].err
		if err != nil {
			// A step that could not run is a failed check. Only a server
			// that cannot be reached or refuses our credentials exits 3;
			// anything else (a refused INFO, a key of the wrong type) is a
			// failed check, exit 1, and the later steps are not reported.
			k.checks = append(k.checks, output.CheckFailed(step.name, err))
			if unusable(err) {
				stop = err
			}
			break
		}
		if c.Status == output.Warn && o.Strict {
			c.Status = output.Fail
		}
		k.checks = append(k.checks, c)
	}
	if stop != nil {
		// A server ffdelay cannot use at all gets the same one line and
		// exit 3 as from every other command, not a report of one row.
		if o.Scope.MetricsFile != "" {
			metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "check", Started: started, Checks: k.checks})
		}
		return stop
	}
	r := output.CheckReport{OK: true, Checks: k.checks}
	for _, c := range k.checks {
		if c.Status == output.Fail {
			r.OK = false
		}
	}
	p.Checks(r)
	if o.Scope.MetricsFile != "" {
		if err := metrics.WriteMetrics(o.Scope.MetricsFile, metrics.MetricsRun{Command: "check", Started: started, Checks: r.Checks, Groups: k.groups}); err != nil && stop == nil {
			stop = err
		}
	}
	if stop == nil && !r.OK {
		return errSilentFailure
	}
	return stop
}

func checkConnection(ctx context.Context, k *checkRun) (output.Check, error) {
	// On a single server, INFO cluster answers both questions (is it
	// there, is it a cluster node) in one round trip; PING (and its
	// diagnosis) when it cannot.
	node, infoErr := k.client.IsClusterNode(ctx)
	if infoErr != nil || k.client.IsCluster() {
		if err := k.client.Ping(ctx); err != nil {
			return output.Check{}, explain(ctx, k.client.Options(), err)
		}
		if infoErr != nil && redisops.KindOf(infoErr) != redisops.KindNoPerm {
			return output.Check{}, infoErr
		}
	}
	if node {
		// A cluster node reached without --cluster: check the cluster.
		k.client.Close()
		k.client, _ = clusterFromNode(ctx, k.client.Options(), k.printer)
		if err := k.client.Ping(ctx); err != nil {
			return output.Check{}, err
		}
		return output.ConnectionOK(k.client.Addr(), true, true), nil
	}
	return output.ConnectionOK(k.client.Addr(), k.client.IsCluster(), false), nil
}

func checkServerVersion(ctx context.Context, k *checkRun) (output.Check, error) {
	versions, err := k.client.Versions(ctx)
	if err != nil {
		return output.Check{}, err
	}
	var old, seen []string
	for _, v := range versions {
		seen = append(seen, v.Product+" "+v.Version)
		if v.Product != "valkey" && v.Major < 7 {
			old = append(old, v.Addr+" runs "+v.Product+" "+v.Version)
		}
	}
	return output.ServerVersions(statusIf(len(old) > 0, output.Fail), slices.Compact(slices.Sorted(slices.Values(seen))), old), nil
}

func checkLibrary(ctx context.Context, k *checkRun) (output.Check, error) {
	defer close(k.libReady)
	libs, err := k.client.Libraries(ctx, nil)
	if err != nil {
		return output.Check{}, err
	}
	var problems []output.LibraryProblem
	for _, l := range libs {
		switch {
		case l.Err != nil:
			problems = append(problems, output.LibraryProblem{Addr: l.Addr, Err: l.Err})
		case !l.Loaded:
			problems = append(problems, output.LibraryProblem{Addr: l.Addr, NoLib: true})
		case !l.HasFunction(redisops.PromoteFunction):
			problems = append(problems, output.LibraryProblem{Addr: l.Addr, Function: redisops.PromoteFunction})
		}
	}
	k.libOK = len(problems) == 0
	return output.Library(statusIf(!k.libOK, output.Fail), redisops.PromoteFunction, len(libs), problems), nil
}

func checkFFVersion(ctx context.Context, k *checkRun) (output.Check, error) {
	<-k.libReady
	r := output.FFVersionResult{NoLibrary: !k.libOK}
	for v := range ffReleases {
		r.KnownOnes = append(r.KnownOnes, v)
	}
	// ff_version answers are whole numbers: shorter is smaller.
	slices.SortFunc(r.KnownOnes, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	if k.libOK {
		v, err := k.client.FFVersion(ctx)
		switch {
		case err != nil && redisops.KindOf(err) == redisops.KindNoPerm:
			r.NoPerm = true
		case err != nil && (redisops.KindOf(err) == redisops.KindUnreachable || redisops.KindOf(err) == redisops.KindAuth):
			return output.Check{}, err
		case err != nil:
			r.Err = err
		default:
			r.Version, r.Release = v, ffReleases[v]
		}
	}
	status := output.Pass
	switch {
	case r.NoLibrary, r.Err != nil:
		status = output.Fail
	case r.NoPerm, r.Release == "":
		status = output.Warn
	}
	return output.FFVersion(status, r), nil
}

func checkPartitionsConfig(ctx context.Context, k *checkRun) (output.Check, error) {
	scopeDone := false
	defer func() {
		if !scopeDone {
			close(k.scopeReady)
		}
		close(k.groupsReady)
	}()
	var scope resolvedScope
	var err error
	if k.registry.client == k.client {
		scope, err = scopeFromRegistry(ctx, k.client, k.o.Scope, output.Discard(), k.registry.reg, k.registry.err)
	} else {
		scope, err = resolveScope(ctx, k.client, k.o.Scope, output.Discard())
	}
	if err != nil {
		return output.Check{}, err
	}
	k.scope, k.scopeOK = scope, true
	scopeDone = true
	close(k.scopeReady)
	// The groups are read here: a database with no config, no lane
	// registry and no delayed set holds no FlowFabric data at all, and
	// must not pass as "nothing overdue".
	run, err := k.client.NewList(ctx, scope.Scope, scope.Registry.Snapshot)
	if err != nil {
		return output.Check{}, err
	}
	if k.groups, err = run.Groups(ctx, 0); err != nil {
		return output.Check{}, err
	}
	k.groupsOK = true
	var delayed int64
	for _, g := range k.groups {
		delayed += g.Delayed
	}
	cfg := scope.Registry.Config
	noData := !cfg.Found && !scope.Registry.LanesFound && delayed == 0
	status := output.Pass
	switch {
	case noData:
		status = output.Fail
	case !cfg.Valid:
		status = output.Warn
	}
	return output.PartitionsConfig(status, output.PartitionsConfigFinding{Key: redisops.ConfigKey, Valid: cfg.Valid, Found: cfg.Found,
		Raw: cfg.Raw, Count: cfg.Count, UsedCount: scope.Count, CountSource: scope.CountSource,
		NoData: noData}), nil
}

func checkLanes(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitGroups() {
		return output.Check{}, errNotRun
	}
	reg := k.scope.Registry
	delayed := map[string]int64{}
	for _, g := range k.groups {
		delayed[g.Lane] += g.Delayed
	}
	unknown := unknownLanes(k.o.Scope, k.scope, delayed)
	return output.Lanes(statusIf(!reg.LanesFound || len(unknown) > 0, output.Warn), redisops.LanesKey, reg.LanesFound, reg.Lanes, k.scope.Lanes, unknown), nil
}

func checkOverdue(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitGroups() {
		return output.Check{}, errNotRun
	}
	var worst model.Group
	for _, g := range k.groups {
		if g.MaxOverdueMs > worst.MaxOverdueMs {
			worst = g
		}
	}
	overdue := time.Duration(worst.MaxOverdueMs) * time.Millisecond
	return output.Overdue(statusIf(overdue > k.o.MaxOverdue, output.Fail), overdue, k.o.MaxOverdue, worst.Partition, worst.Lane), nil
}

func checkDue(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitGroups() {
		return output.Check{}, errNotRun
	}
	var due int64
	for _, g := range k.groups {
		due += g.Due
	}
	return output.Due(statusIf(k.o.MaxDue >= 0 && due > k.o.MaxDue, output.Fail), due, k.o.MaxDue), nil
}

func checkStuck(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitScope() {
		return output.Check{}, errNotRun
	}
	// The engine's own dry run: every due entry read and classified as a
	// promote would (up to the bound), not a sample that may miss what is
	// stuck.
	st, err := promote.FindStuck(ctx, k.client, k.scope.Scope, k.scope.Registry.Snapshot, stuckBound)
	if err != nil {
		return output.Check{}, err
	}
	f := output.StuckFinding{Due: st.Due, Examined: int(st.Examined), Repairable: int(st.Repairable), Failing: int(st.Failing), Bounded: st.Bounded}
	for _, r := range st.Examples {
		f.Examples = append(f.Examples, output.NewStuckExample(r))
	}
	return output.Stuck(statusIf(f.Repairable+f.Failing > 0, output.Warn), f), nil
}

// stuckBound bounds how many due entries check's dry run classifies; past
// it the step says so.
const stuckBound = 100_000

// checkPermissions probes, without writing, whether this user may run what
// ff_promote_delayed runs inside on every primary: a user with FCALL but
// without one of them would half-write every due execution.
func checkPermissions(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitScope() {
		return output.Check{}, errNotRun
	}
	shards, err := k.client.Shards(ctx, k.scope.AllPartitions())
	if err != nil {
		return output.Check{}, err
	}
	lane := "default"
	if len(k.scope.Lanes) > 0 {
		lane = k.scope.Lanes[0]
	}
	var f output.PermissionsFinding
	for _, sh := range shards {
		perms, err := k.client.ProbePermissions(ctx, sh, sh.Partitions()[0], lane, true)
		if err != nil {
			return output.Check{}, err
		}
		f.Primaries++
		f.NoFCall = f.NoFCall || !perms.FCall
		for _, m := range perms.Missing {
			switch m {
			case "+fcall":
			case "+watch", "+multi":
				f.Repair = appendNew(f.Repair, m)
			default:
				f.Promote = appendNew(f.Promote, m)
			}
		}
		for _, u := range perms.Unverified {
			f.Unverified = appendNew(f.Unverified, u)
		}
	}
	status := output.Pass
	switch {
	case f.NoFCall:
		status = output.Warn // a read-only user: it cannot half-write
	case len(f.Promote) > 0:
		status = output.Fail
	case len(f.Repair) > 0 || len(f.Unverified) > 0:
		status = output.Warn
	}
	return output.PermissionsCheck(status, f), nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func checkUnregisteredLanes(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitScope() {
		return output.Check{}, errNotRun
	}
	if !k.o.Scope.Discover {
		// Without --discover-lanes: a sample of the keyspace, said so.
		outside, complete, err := k.sample.outside(k.scope)
		if err != nil {
			return output.Check{}, err
		}
		return output.UnregisteredLanes(statusIf(len(outside) > 0, output.Warn), redisops.LanesKey, outside, !complete), nil
	}
	var unreg []string
	for l := range k.scope.Unregistered {
		unreg = append(unreg, l)
	}
	sort.Strings(unreg)
	return output.UnregisteredLanes(statusIf(len(unreg) > 0, output.Warn), redisops.LanesKey, unreg, false), nil
}

func checkPartitionsBeyondCount(ctx context.Context, k *checkRun) (output.Check, error) {
	if !k.waitScope() {
		return output.Check{}, errNotRun
	}
	var beyond []string
	for _, f := range k.scope.Discovered {
		if f.Partition >= k.scope.Count {
			beyond = append(beyond, fmt.Sprintf("%d/%s", f.Partition, f.Lane))
		}
	}
	return output.PartitionsBeyondCount(statusIf(len(beyond) > 0, output.Fail), k.scope.Count, beyond), nil
}

// unusable errors mean the server cannot be used at all: check stops with
// exit 3 and one line. A refused command or a missing library is a failed
// check instead (exit 1, with the report).
func unusable(err error) bool { return redisops.KindOf(err).Unusable() }

// statusIf is bad when cond holds, else pass.
func statusIf(cond bool, bad output.Status) output.Status {
	if cond {
		return bad
	}
	return output.Pass
}
