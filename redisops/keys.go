// Package redisops is the only package that talks to Valkey/Redis. It knows
// FlowFabric's key layout, reads the server clock, scans scheduling sets,
// calls ff_promote_delayed and decodes its replies into plain structs.
package redisops

import (
	"strconv"

	"github.com/flowfabric/ffdelay/internal/model"
)

// Key names follow FlowFabric's ff-core key builders. Every per-partition key
// carries the partition's hash tag so that one partition lives in one slot.

// ConfigKey is the hash holding num_flow_partitions (no hash tag).
const ConfigKey = "ff:config:partitions"

// LanesKey is the set of lanes registered at ff-server boot (no hash tag).
const LanesKey = "ff:idx:lanes"

// DefaultPartitions is FlowFabric's fallback partition count.
const DefaultPartitions = 256

// PartitionTag returns the hash tag of partition p, e.g. "{fp:7}".
func partitionTag(p int) string {
	return "{fp:" + strconv.Itoa(p) + "}"
}

// DelayedKey returns the delayed sorted set of a partition and lane.
func DelayedKey(p int, lane string) string {
	return "ff:idx:{fp:" + strconv.Itoa(p) + "}:lane:" + lane + ":delayed"
}

// EligibleKey returns the eligible sorted set of a partition and lane.
func EligibleKey(p int, lane string) string {
	return "ff:idx:{fp:" + strconv.Itoa(p) + "}:lane:" + lane + ":eligible"
}

// CoreKey returns the core hash of an execution. The partition tag appears
// twice: once as the key's tag, once at the start of the full id.
func CoreKey(p int, id string) string {
	return "ff:exec:{fp:" + strconv.Itoa(p) + "}:" + id + ":core"
}

// TagsKey returns the user tags hash of an execution.
func TagsKey(p int, id string) string {
	return "ff:exec:{fp:" + strconv.Itoa(p) + "}:" + id + ":tags"
}

// AllExecutionsKey returns the set of every execution id of a partition.
func AllExecutionsKey(p int) string {
	return "ff:idx:" + partitionTag(p) + ":all_executions"
}

// DelayedPattern is the SCAN pattern matching every delayed set.
const delayedPattern = "ff:idx:{fp:*}:lane:*:delayed"

// ParseDelayedKey splits a delayed set key into partition and lane. ok is
// false for keys that do not have that shape.
func parseDelayedKey(key string) (partition int, lane string, ok bool) {
	const prefix, suffix = "ff:idx:{fp:", ":delayed"
	if len(key) < len(prefix)+len(suffix) || key[:len(prefix)] != prefix || key[len(key)-len(suffix):] != suffix {
		return 0, "", false
	}
	rest := key[len(prefix) : len(key)-len(suffix)]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := model.ParsePartitionNumber(rest[:end])
	if err != nil || len(rest) < end+len("}:lane:")+1 || rest[end:end+len("}:lane:")] != "}:lane:" {
		return 0, "", false
	}
	lane = rest[end+len("}:lane:"):]
	if model.ValidateLane(lane) != nil {
		return 0, "", false
	}
	return n, lane, true
}

// EscapeGlob escapes SCAN/MATCH glob characters so a lane name matches
// itself only.
func escapeGlob(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
