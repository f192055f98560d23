// Package model holds the plain values that cross ffdelay's packages:
// execution ids, scopes, outcomes and results. The engine and redisops
// produce them, output renders them, commands build them from flags.
package model

import (
	"sort"
	"time"
)

// JSON names of the structs below are part of ffdelay's contract
// (shared/spec/cli.md).

// Scope is the set of partitions and lanes a command works on.
type Scope struct {
	// Count is the configured partition count.
	Count int
	// Partitions are the partitions to visit, ascending.
	Partitions []int
	// Lanes are the lanes to visit.
	Lanes []string
	// Unregistered marks lanes found only by --discover-lanes.
	Unregistered map[string]bool
	// Extra are delayed sets found by discovery on partitions >= Count; they
	// are visited too, since the engine never will.
	Extra []PartitionLane
}

// OutOfScope is due work found in the delayed sets of lanes a run leaves
// out: lanes nobody registered (the engine never promotes them) or lanes
// another replica's --lane takes.
type OutOfScope struct {
	Lanes []LaneDue `json:"lanes"`
	// Complete: the whole keyspace was looked at; else a sample of it.
	Complete bool `json:"complete"`
}

// LaneDue is one lane's delayed sets outside a scope.
type LaneDue struct {
	Lane    string `json:"lane"`
	Due     int64  `json:"due"`
	Delayed int64  `json:"delayed"`
	// Partitions counts the partitions where its delayed sets were found.
	Partitions int `json:"partitions"`
	// Registered: ff:idx:lanes lists it (it is outside the scope because
	// --lane left it out); else the engine never promotes it.
	Registered bool `json:"registered"`
}

// Forecast is when the delayed entries in scope fall due: per lane, the
// counts of the ranges (-inf, now], (now, EndsMs[0]], ...,
// (EndsMs[last], +inf) of each set's scores, now by each primary's clock.
type Forecast struct {
	// ServerTimeMs is the earliest primary clock.
	ServerTimeMs int64
	// EndsMs are the bins' ends, in ms since the epoch, ascending.
	EndsMs []int64
	// Lanes holds, per lane, len(EndsMs)+2 counts: due now, each bin,
	// and beyond the last.
	Lanes map[string][]int64
	// Sets counts the sets that were not empty (each got one count per
	// range).
	Sets int
}

// DueSoon is how many executions of a lane fall due within a horizon from
// now (not counting those due already).
type DueSoon struct {
	Lane   string
	Within time.Duration
	Count  int64
}

// PartitionLane names one delayed set.
type PartitionLane struct {
	Partition int    `json:"partition"`
	Lane      string `json:"lane"`
}

// Group is one partition and lane's delayed set as list reports it.
type Group struct {
	Partition    int    `json:"partition"`
	Lane         string `json:"lane"`
	Delayed      int64  `json:"delayed"`
	Due          int64  `json:"due"`
	OldestDueMs  *int64 `json:"oldest_due_ms"`
	MaxOverdueMs int64  `json:"max_overdue_ms"`
	NextDueMs    *int64 `json:"next_due_ms"`
	ServerTimeMs int64  `json:"server_time_ms"`
	Unregistered bool   `json:"unregistered"`
	// Misplaced counts entries whose score is not a due time (below
	// 2000-01-01: an eligible-style score left in the delayed set). They
	// are in Due, but not in the overdue figures or Executions.
	Misplaced  int64          `json:"misplaced"`
	Executions []DueExecution `json:"executions"`
	// NewlyDue counts the entries that fell due since an earlier reading
	// (ListRun.SinceMs): top's arrivals.
	NewlyDue int64 `json:"-"`
}

// MinDueTimeMs is the lowest delayed score taken as a due time
// (2000-01-01). FlowFabric writes due times as ms timestamps; a lower score
// is an eligible-style one, -(priority*1e12)+created_at, left in a delayed
// set (a misindexed execution: for priority 2 it reads as 1963). It is due
// by the engine's rule, but "overdue by 63 years" would be a lie: such
// entries are counted as misplaced instead.
const MinDueTimeMs = 946684800000

// DueExecution is one due member of a delayed set.
type DueExecution struct {
	ExecutionID  string `json:"execution_id"`
	DelayUntilMs int64  `json:"delay_until_ms"`
	OverdueMs    int64  `json:"overdue_ms"`
}

// ListTotals covers every group scanned; Groups counts the groups shown.
type ListTotals struct {
	Delayed   int64 `json:"delayed"`
	Due       int64 `json:"due"`
	Groups    int64 `json:"groups"`
	Misplaced int64 `json:"misplaced"`
}

// Inspection is everything about one execution's delay.
type Inspection struct {
	ExecutionID   string            `json:"execution_id"`
	Partition     int               `json:"partition"`
	Lane          string            `json:"lane"`
	Found         bool              `json:"found"`
	Core          map[string]string `json:"core"`
	Tags          map[string]string `json:"tags"`
	InDelayed     bool              `json:"in_delayed"`
	DelayedScore  *Score            `json:"delayed_score"`
	InEligible    bool              `json:"in_eligible"`
	EligibleScore *Score            `json:"eligible_score"`
	Diagnosis     string            `json:"diagnosis"`
	// Stuck marks diagnoses the engine cannot resolve by itself.
	Stuck        bool  `json:"stuck"`
	ServerTimeMs int64 `json:"server_time_ms"`
}

// TagFilter selects executions whose tags hash has Key = Value.
type TagFilter struct{ Key, Value string }

// Groups expands the scope into the (partition, lane) pairs of the given
// partitions (one primary's share), Extra sets included. The work grows
// with the sets that exist: Extra pairs are looked up by partition.
func (s Scope) Groups(partitions []int) []PartitionLane {
	inScope := make(map[int]bool, len(s.Partitions))
	for _, p := range s.Partitions {
		inScope[p] = true
	}
	lanes := make(map[string]bool, len(s.Lanes))
	for _, l := range s.Lanes {
		lanes[l] = true
	}
	extra := map[int][]PartitionLane{}
	for _, e := range s.Extra {
		extra[e.Partition] = append(extra[e.Partition], e)
	}
	var out []PartitionLane
	for _, p := range partitions {
		if inScope[p] {
			for _, l := range s.Lanes {
				out = append(out, PartitionLane{Partition: p, Lane: l})
			}
		}
		for _, e := range extra[p] {
			if !(inScope[p] && lanes[e.Lane]) {
				out = append(out, e)
			}
		}
	}
	return out
}

// AllPartitions lists every partition the scope touches, Extra included.
func (s Scope) AllPartitions() []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range s.Partitions {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, e := range s.Extra {
		if !seen[e.Partition] {
			seen[e.Partition] = true
			out = append(out, e.Partition)
		}
	}
	sort.Ints(out)
	return out
}

// BatchStats is how a run's FCALL batches were sized under --max-stall.
type BatchStats struct {
	Batches int64 `json:"batches"`
	Max     int   `json:"max_batch"`
	Last    int   `json:"last_batch"`
	// PerCallUs is the server's measured time per FCALL, in µs (0 when not
	// measured).
	PerCallUs float64 `json:"per_call_us"`
	// MaxStallMs is the budget the batches were sized for.
	MaxStallMs float64 `json:"max_stall_ms"`
}
