package output

import (
	"fmt"
	"strings"
	"time"
)

// The functions below word each check of `ffdelay check` from typed
// findings; commands decides pass, warn or fail.

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
func ServerVersions(seen, tooOld []string) Check {
	if len(tooOld) > 0 {
		return Check{Name: "server_version", Status: Fail, Detail: "no FUNCTION support (needs Redis >= 7.0 or Valkey): " + strings.Join(tooOld, "; ")}
	}
	return Check{Name: "server_version", Status: Pass, Detail: strings.Join(seen, ", ")}
}

// LibraryProblem is one primary's trouble with the flowfabric library.
type LibraryProblem struct {
	Addr     string
	Err      error
	NoLib    bool
	Function string // the missing function, when the library lacks it
}

// Library reports the flowfabric library on every primary.
func Library(function string, primaries int, problems []LibraryProblem) Check {
	if len(problems) == 0 {
		return Check{Name: "library", Status: Pass, Detail: fmt.Sprintf("flowfabric with %s on %d primaries", function, primaries)}
	}
	var parts []string
	for _, p := range problems {
		switch {
		case p.Err != nil:
			parts = append(parts, fmt.Sprintf("%s (%v)", p.Addr, p.Err))
		case p.NoLib:
			parts = append(parts, p.Addr+" has no flowfabric library")
		default:
			parts = append(parts, p.Addr+" lacks "+p.Function)
		}
	}
	return Check{Name: "library", Status: Fail, Detail: strings.Join(parts, "; ") + ": start ff-server once so it loads the library"}
}

// FFVersionResult is what ff_version answered.
type FFVersionResult struct {
	Version    string
	Release    string // the releases that ship it; empty when unknown
	NoPerm     bool
	Err        error
	NoLibrary  bool
	KnownOnes  []string
	CheckedVia string
}

// FFVersion reports the library's version and the releases it belongs to.
func FFVersion(r FFVersionResult) Check {
	c := Check{Name: "ff_version"}
	switch {
	case r.NoLibrary:
		c.Status, c.Detail = Fail, "not callable: the library is missing"
	case r.NoPerm:
		// ff_version is not flagged read-only, so a read-only ACL user
		// cannot call it (FCALL_RO fails too).
		c.Status, c.Detail = Warn, "not checked: this user may not run FCALL (a read-only user cannot call ff_version)"
	case r.Err != nil:
		c.Status, c.Detail = Fail, fmt.Sprintf("ff_version failed: %v", r.Err)
	case r.Release != "":
		c.Status, c.Detail = Pass, fmt.Sprintf("%s (FlowFabric %s)", Safe(r.Version), r.Release)
	default:
		c.Status, c.Detail = Warn, fmt.Sprintf("%s is not a known FlowFabric release (known: %s)", Safe(r.Version), strings.Join(r.KnownOnes, ", "))
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
func PartitionsConfig(f PartitionsConfigFinding) Check {
	c := Check{Name: "partitions_config"}
	switch {
	case f.Valid:
		c.Status, c.Detail = Pass, fmt.Sprintf("%d partitions", f.Count)
	case f.NoData:
		c.Status, c.Detail = Fail, fmt.Sprintf("no FlowFabric data here: no %s, no lane registry, no delayed set (wrong server or database? check --url)", f.Key)
	case f.Found:
		c.Status, c.Detail = Warn, fmt.Sprintf("%s num_flow_partitions is %q; FlowFabric falls back to 256 (using %d from %s)", f.Key, Safe(f.Raw), f.UsedCount, f.CountSource)
	default:
		c.Status, c.Detail = Warn, fmt.Sprintf("%s is missing; FlowFabric falls back to 256 (using %d from %s)", f.Key, f.UsedCount, f.CountSource)
	}
	return c
}

// Lanes reports the lane registry.
func Lanes(key string, found bool, registered, used []string) Check {
	if found {
		return Check{Name: "lanes", Status: Pass, Detail: fmt.Sprintf("%d registered: %s", len(registered), short(registered, 10))}
	}
	return Check{Name: "lanes", Status: Warn, Detail: fmt.Sprintf("%s is missing (FlowFabric before 0.6?); checking %s", key, short(used, 10))}
}

// Overdue reports the oldest due execution against the limit.
func Overdue(worst, limit time.Duration, partition int, lane string) Check {
	switch {
	case worst > limit:
		return Check{Name: "overdue", Status: Fail, Detail: fmt.Sprintf("oldest due execution is %s overdue (partition %d, lane %s); limit %s",
			HumanDuration(worst), partition, Safe(lane), HumanDuration(limit))}
	case worst > 0:
		return Check{Name: "overdue", Status: Pass, Detail: fmt.Sprintf("oldest due execution is %s overdue; limit %s", HumanDuration(worst), HumanDuration(limit))}
	}
	return Check{Name: "overdue", Status: Pass, Detail: "nothing overdue; limit " + HumanDuration(limit)}
}

// Due reports the due count against --max-due (negative: no limit).
func Due(due, limit int64) Check {
	switch {
	case limit >= 0 && due > limit:
		return Check{Name: "due", Status: Fail, Detail: fmt.Sprintf("%d due; limit %d", due, limit)}
	case limit >= 0:
		return Check{Name: "due", Status: Pass, Detail: fmt.Sprintf("%d due; limit %d", due, limit)}
	}
	return Check{Name: "due", Status: Pass, Detail: fmt.Sprintf("%d due (no --max-due limit)", due)}
}

// StuckExample is one stuck entry check found.
type StuckExample struct {
	ExecutionID string
	Reason      string
}

// Stuck reports stuck entries among the sampled due ones.
func Stuck(stuck []StuckExample, sampled int) Check {
	if len(stuck) == 0 {
		return Check{Name: "stuck", Status: Pass, Detail: fmt.Sprintf("none among %d sampled due entries", sampled)}
	}
	var ex []string
	for _, s := range stuck {
		ex = append(ex, Safe(s.ExecutionID)+" ("+s.Reason+")")
	}
	return Check{Name: "stuck", Status: Warn, Detail: fmt.Sprintf("%d of %d sampled due entries are stuck, e.g. %s; see ffdelay inspect", len(stuck), sampled, short(ex, 3))}
}

// UnregisteredLanes reports lanes with delayed sets that the registry lacks.
func UnregisteredLanes(key string, lanes []string) Check {
	if len(lanes) == 0 {
		return Check{Name: "unregistered_lanes", Status: Pass, Detail: "every lane with delayed sets is registered"}
	}
	return Check{Name: "unregistered_lanes", Status: Warn, Detail: fmt.Sprintf("delayed sets exist for lanes not in %s (the engine never promotes them unless FF_LANES names them): %s", key, short(safeAll(lanes), 10))}
}

// PartitionsBeyondCount reports delayed sets on partitions >= count.
func PartitionsBeyondCount(count int, sets []string) Check {
	if len(sets) == 0 {
		return Check{Name: "partitions_beyond_count", Status: Pass, Detail: fmt.Sprintf("no delayed sets beyond partition %d", count-1)}
	}
	return Check{Name: "partitions_beyond_count", Status: Fail, Detail: fmt.Sprintf("delayed sets on partitions >= %d, never scanned by the engine: %s", count, short(safeAll(sets), 10))}
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
