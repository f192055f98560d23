package output

import (
	"fmt"
	"github.com/flowfabric/ffdelay/internal/model"
	"strings"
	"time"
)

// The functions below word each check of `ffdelay check`: commands decides
// pass, warn or fail from its findings and hands the status in; the words
// follow the status given.

// CheckFailed is a step that could not run.
func CheckFailed(name string, err error) Check {
	return Check{Name: name, Status: Fail, Detail: err.Error()}
}

// ConnectionOK says where ffdelay is connected; detected marks a cluster
// found behind a node that was given without --cluster.
func ConnectionOK(addr string, cluster, detected bool) Check {
	mode := "standalone"
	if cluster {
		mode = "cluster"
	}
	c := Check{Name: "connection", Status: Pass, Detail: fmt.Sprintf("connected to %s (%s)", addr, mode)}
	if detected {
		c.Detail += "; --cluster was not given, but the node is part of a cluster"
	}
	return c
}

// ServerVersions reports each primary's product and version; tooOld names
// the primaries without FUNCTION support.
func ServerVersions(status Status, seen, tooOld []string) Check {
	if status != Pass {
		return Check{Name: "server_version", Status: status, Detail: "no FUNCTION support (needs Redis >= 7.0 or Valkey): " + strings.Join(safeAll(tooOld), "; ")}
	}
	return Check{Name: "server_version", Status: status, Detail: strings.Join(safeAll(seen), ", ")}
}

// LibraryProblem is one primary's trouble with the flowfabric library.
type LibraryProblem struct {
	Addr     string
	Err      error
	NoLib    bool
	Function string // the missing function, when the library lacks it
}

// Library reports the flowfabric library on every primary.
func Library(status Status, function string, primaries int, problems []LibraryProblem) Check {
	if status == Pass {
		return Check{Name: "library", Status: status, Detail: fmt.Sprintf("flowfabric with %s on %s", function, plural(primaries, "primary"))}.withNumbers(int64(primaries), nil, "primaries")
	}
	var parts []string
	for _, p := range problems {
		switch {
		case p.Err != nil:
			parts = append(parts, fmt.Sprintf("%s (%s)", p.Addr, Safe(p.Err.Error())))
		case p.NoLib:
			parts = append(parts, p.Addr+" has no flowfabric library")
		default:
			parts = append(parts, p.Addr+" lacks "+p.Function)
		}
	}
	return Check{Name: "library", Status: status, Detail: strings.Join(parts, "; ") + ": start ff-server once so it loads the library"}
}

// FFVersionResult is what ff_version answered.
type FFVersionResult struct {
	Version   string
	Release   string // the releases that ship it; empty when unknown
	NoPerm    bool
	Err       error
	NoLibrary bool
	KnownOnes []string
}

// FFVersion reports the library's version and the releases it belongs to.
func FFVersion(status Status, r FFVersionResult) Check {
	c := Check{Name: "ff_version", Status: status}
	switch {
	case r.NoLibrary:
		c.Detail = "not callable: the library is missing"
	case r.NoPerm:
		// ff_version is not flagged read-only, so a read-only ACL user
		// cannot call it (FCALL_RO fails too).
		c.Detail = "not checked: this user may not run FCALL (a read-only user cannot call ff_version)"
	case r.Err != nil:
		c.Detail = "ff_version failed: " + Safe(r.Err.Error())
	case r.Release != "":
		c.Detail = fmt.Sprintf("%s (FlowFabric %s)", Safe(r.Version), r.Release)
	default:
		c.Detail = fmt.Sprintf("%s is not a known FlowFabric release (known: %s)", Safe(r.Version), strings.Join(r.KnownOnes, ", "))
	}
	return c
}

// PartitionsConfigFinding is what ff:config:partitions says.
type PartitionsConfigFinding struct {
	Key         string
	Valid       bool
	Found       bool
	Raw         string
	Count       int
	UsedCount   int
	CountSource string
	// NoData: the database holds no FlowFabric data at all.
	NoData bool
}

// PartitionsConfig reports the partition count.
func PartitionsConfig(status Status, f PartitionsConfigFinding) Check {
	c := Check{Name: "partitions_config", Status: status}
	if f.Valid {
		c = c.withNumbers(int64(f.Count), nil, "partitions")
	}
	switch {
	case f.Valid:
		c.Detail = plural(f.Count, "partition")
	case f.NoData:
		c.Detail = fmt.Sprintf("no FlowFabric data here: no %s, no lane registry, no delayed set (wrong server or database? check --url)", f.Key)
	case f.Found:
		c.Detail = fmt.Sprintf("%s num_flow_partitions is %q; FlowFabric falls back to 256 (using %d from %s)", f.Key, Safe(f.Raw), f.UsedCount, f.CountSource)
	default:
		c.Detail = fmt.Sprintf("%s is missing; FlowFabric falls back to 256 (using %d from %s)", f.Key, f.UsedCount, f.CountSource)
	}
	return c
}

// Lanes reports the lane registry.
func Lanes(status Status, key string, found bool, registered, used, unknown []string) Check {
	var detail string
	if found {
		detail = fmt.Sprintf("%s registered: %s", count(int64(len(registered))), short(safeAll(registered), 10))
	} else {
		detail = fmt.Sprintf("%s is missing (FlowFabric before 0.6?); checking %s", key, short(safeAll(used), 10))
	}
	if len(unknown) > 0 {
		detail += fmt.Sprintf("; --lane names a lane neither registered nor with a delayed set (a typo?): %s", short(safeAll(unknown), 5))
	}
	return Check{Name: "lanes", Status: status, Detail: detail}
}

// Overdue reports the oldest due execution against the limit.
func Overdue(status Status, worst, limit time.Duration, partition int, lane string) Check {
	c := Check{Name: "overdue", Status: status, Detail: "nothing overdue; limit " + HumanDuration(limit)}
	switch {
	case status != Pass:
		c.Detail = fmt.Sprintf("oldest due execution is %s overdue (partition %d, lane %s); limit %s",
			HumanDuration(worst), partition, Safe(lane), HumanDuration(limit))
	case worst > 0:
		c.Detail = fmt.Sprintf("oldest due execution is %s overdue; limit %s", HumanDuration(worst), HumanDuration(limit))
	}
	limitMs := limit.Milliseconds()
	return c.withNumbers(worst.Milliseconds(), &limitMs, "ms")
}

// Due reports the due count against --max-due (negative: no limit).
func Due(status Status, due, limit int64) Check {
	if limit >= 0 {
		return Check{Name: "due", Status: status, Detail: fmt.Sprintf("%s due; limit %s", count(due), count(limit))}.withNumbers(due, &limit, "executions")
	}
	return Check{Name: "due", Status: status, Detail: fmt.Sprintf("%s due (no --max-due limit)", count(due))}.withNumbers(due, nil, "executions")
}

// StuckExample is one stuck entry check found.
type StuckExample struct {
	ExecutionID string
	Reason      string
}

// NewStuckExample words a stuck entry's result for check's detail.
func NewStuckExample(r model.Result) StuckExample {
	r = word(r)
	return StuckExample{ExecutionID: r.ExecutionID, Reason: firstOf(r.Reason, r.Error)}
}

// StuckFinding is what check's dry run found among the due entries.
type StuckFinding struct {
	Due      int64
	Examined int
	// Repairable: shapes promote --repair fixes; Failing: entries the
	// function fails on (or ffdelay will not hand it).
	Repairable, Failing int
	Examples            []StuckExample
	// Bounded: the dry run stopped at its bound before the last due entry.
	Bounded bool
}

// Stuck reports the due entries the engine's promoter cannot resolve.
func Stuck(status Status, f StuckFinding) Check {
	var none int64
	return stuckCheck(status, f).withNumbers(int64(f.Repairable+f.Failing), &none, "executions")
}

func stuckCheck(status Status, f StuckFinding) Check {
	scope := fmt.Sprintf("all %s due entries", count(int64(f.Examined)))
	if f.Bounded {
		scope = fmt.Sprintf("the first %s of %s due entries (check's bound)", count(int64(f.Examined)), count(f.Due))
	}
	if f.Repairable+f.Failing == 0 {
		return Check{Name: "stuck", Status: status, Detail: "none among " + scope}
	}
	var ex []string
	for _, s := range f.Examples {
		ex = append(ex, Safe(s.ExecutionID)+" ("+s.Reason+")")
	}
	return Check{Name: "stuck", Status: status, Detail: fmt.Sprintf("%s of %s are stuck: %s repairable (promote --repair), %s failing, e.g. %s; see ffdelay promote --dry-run",
		count(int64(f.Repairable+f.Failing)), scope, count(int64(f.Repairable)), count(int64(f.Failing)), strings.Join(ex, ", "))}
}

// UnregisteredLanes reports lanes with delayed sets that the registry
// lacks; sampled says they were looked for in a sample of the keyspace.
func UnregisteredLanes(status Status, key string, lanes []string, sampled bool) Check {
	return unregisteredLanes(status, key, lanes, sampled).withNumbers(int64(len(lanes)), nil, "lanes")
}

func unregisteredLanes(status Status, key string, lanes []string, sampled bool) Check {
	where := "every lane with delayed sets is registered"
	if sampled {
		where = "no delayed sets of unregistered lanes in a sample of the keyspace (--discover-lanes walks it all)"
	}
	if len(lanes) == 0 {
		return Check{Name: "unregistered_lanes", Status: status, Detail: where}
	}
	detail := fmt.Sprintf("delayed sets exist for lanes not in %s (the engine never promotes them unless FF_LANES names them): %s; add them to ff-server's FF_LANES, or promote them with ffdelay promote --discover-lanes (or --lane)", key, short(safeAll(lanes), 10))
	if sampled {
		detail += "; found in a sample of the keyspace: ffdelay list --discover-lanes shows them all"
	}
	return Check{Name: "unregistered_lanes", Status: status, Detail: detail}
}

// PartitionsBeyondCount reports delayed sets on partitions >= count.
func PartitionsBeyondCount(status Status, partitions int, sets []string) Check {
	c := Check{Name: "partitions_beyond_count", Status: status, Detail: fmt.Sprintf("no delayed sets beyond partition %d", partitions-1)}
	if len(sets) > 0 {
		c.Detail = fmt.Sprintf("delayed sets on partitions >= %d, never scanned by the engine: %s", partitions, short(safeAll(sets), 10))
	}
	return c.withNumbers(int64(len(sets)), nil, "sets")
}

func short(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + fmt.Sprintf(" and %d more", len(list)-n)
}

func safeAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = Safe(s)
	}
	return out
}

// PermissionsFinding is what the permission probe found over the primaries.
type PermissionsFinding struct {
	Primaries int
	// NoFCall: the user may not run FCALL (a read-only user).
	NoFCall bool
	// Promote are rules missing for what ff_promote_delayed runs inside;
	// Repair those missing for the repairs; Unverified what the probe could
	// not test without writing.
	Promote, Repair, Unverified []string
}

// PermissionsCheck words the permissions step.
func PermissionsCheck(status Status, f PermissionsFinding) Check {
	c := Check{Name: "permissions", Status: status}
	switch {
	case f.NoFCall:
		c.Detail = "this user may not run FCALL: it cannot promote (fine for monitoring); a promoting user needs +fcall +hset +zadd +zrem"
	case len(f.Promote) > 0:
		c.Detail = fmt.Sprintf("this user may run FCALL but not %s, which ff_promote_delayed runs inside: a promotion would half-write (the core updated, the execution in no set); grant %s",
			strings.Join(f.Promote, " "), strings.Join(f.Promote, " "))
	default:
		c.Detail = "FCALL and what ff_promote_delayed runs inside (HSET, ZREM, ZADD) allowed on " + plural(f.Primaries, "primary")
		if len(f.Unverified) > 0 {
			c.Detail = fmt.Sprintf("FCALL, ZREM and ZADD allowed; %s not verified (the probe needs MULTI to test it without writing)", strings.Join(f.Unverified, " "))
		}
		if len(f.Repair) > 0 {
			c.Detail += fmt.Sprintf("; repairs (--repair) need %s too", strings.Join(append(f.Repair, "+exec"), " "))
		}
	}
	return c
}
