package commands

// The steps of ffdelay check, in the contract's order: each reads what it
// needs from checkRun and returns its row.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
	"github.com/flowfabric/ffdelay/internal/promote"
	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
)

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
	unknown := withSuggestions(unknownLanes(k.o.Scope, k.scope, delayed), laneCandidates(k.o.Scope, k.scope, delayed))
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

// statusIf is bad when cond holds, else pass.
func statusIf(cond bool, bad output.Status) output.Status {
	if cond {
		return bad
	}
	return output.Pass
}
