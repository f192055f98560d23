package model

import (
	"math"
	"strconv"
)

// AuditProblem is how an execution's scheduling sets disagree with its
// core.
type AuditProblem string

// Problems audit reports.
const (
	// Stranded: eligible_now and unowned, in no eligible set.
	Stranded AuditProblem = "stranded"
	// LostDelayed: not_eligible_until_time, in no delayed set.
	LostDelayed AuditProblem = "lost_delayed"
	// Duplicated: in both the delayed and the eligible set.
	Duplicated AuditProblem = "duplicated"
	// WrongLane: in the delayed or eligible set of a lane other than its
	// core's lane_id (Error names it). Reported, never repaired.
	WrongLane AuditProblem = "wrong_lane"
	// Foreign: listed in a partition's all_executions, but hashed to
	// another partition. Reported, never repaired.
	Foreign AuditProblem = "foreign"
	// AuditUnrepairable: stranded or lost_delayed, but the score its fix
	// needs cannot be written (a field that is no number); Error names it.
	AuditUnrepairable AuditProblem = "unrepairable"
)

// AuditFinding is one execution audit reports.
type AuditFinding struct {
	ExecutionID string       `json:"execution_id"`
	Partition   int          `json:"partition"`
	Lane        string       `json:"lane"`
	Problem     AuditProblem `json:"problem"`
	Repaired    bool         `json:"repaired"`
	// InDelayed: a stranded execution that still sits in its delayed set
	// (the misindexed shape).
	InDelayed bool `json:"in_delayed,omitempty"`
	// Error says why a repair did not happen.
	Error string `json:"error,omitempty"`
}

// AuditTotals counts audit's findings.
type AuditTotals struct {
	Stranded     int64 `json:"stranded"`
	LostDelayed  int64 `json:"lost_delayed"`
	Duplicated   int64 `json:"duplicated"`
	WrongLane    int64 `json:"wrong_lane"`
	Foreign      int64 `json:"foreign"`
	Unrepairable int64 `json:"unrepairable"`
	Repaired     int64 `json:"repaired"`
}

// Add counts one finding.
func (t *AuditTotals) Add(f AuditFinding) {
	switch f.Problem {
	case Stranded:
		t.Stranded++
	case LostDelayed:
		t.LostDelayed++
	case Duplicated:
		t.Duplicated++
	case AuditUnrepairable:
		t.Unrepairable++
	case WrongLane:
		t.WrongLane++
	case Foreign:
		t.Foreign++
	}
	if f.Repaired {
		t.Repaired++
	}
}

// Remaining counts the problems a run left in place.
func (t AuditTotals) Remaining() int64 {
	return t.Stranded + t.LostDelayed + t.Duplicated + t.Unrepairable + t.WrongLane + t.Foreign - t.Repaired
}

// Score is a sorted-set score. Sets may hold -inf and +inf, which JSON
// numbers cannot: they are written as the strings "-inf" and "+inf".
type Score float64

// MarshalJSON writes a finite score as a number and an infinite one as a
// string, so the document stays valid JSON.
func (s Score) MarshalJSON() ([]byte, error) {
	f := float64(s)
	switch {
	case math.IsInf(f, 1):
		return []byte(`"+inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-inf"`), nil
	case math.IsNaN(f):
		return []byte(`"nan"`), nil
	}
	return strconv.AppendFloat(nil, f, 'f', -1, 64), nil
}
