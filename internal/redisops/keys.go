// Package redisops is the only package that talks to Valkey/Redis. It knows
// FlowFabric's key layout, reads the server clock, scans scheduling sets,
// calls ff_promote_delayed and decodes its replies into plain structs.
package redisops

import (
	"fmt"
	"strconv"
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
func PartitionTag(p int) string {
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
	return "ff:idx:" + PartitionTag(p) + ":all_executions"
}

// DelayedPattern is the SCAN pattern matching every delayed set.
const DelayedPattern = "ff:idx:{fp:*}:lane:*:delayed"

// ParseDelayedKey splits a delayed set key into partition and lane. ok is
// false for keys that do not have that shape.
func ParseDelayedKey(key string) (partition int, lane string, ok bool) {
	const prefix, suffix = "ff:idx:{fp:", ":delayed"
	if len(key) < len(prefix)+len(suffix) || key[:len(prefix)] != prefix || key[len(key)-len(suffix):] != suffix {
		return 0, "", false
	}
	rest := key[len(prefix) : len(key)-len(suffix)]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := parsePartitionNumber(rest[:end])
	if err != nil || len(rest) < end+len("}:lane:")+1 || rest[end:end+len("}:lane:")] != "}:lane:" {
		return 0, "", false
	}
	lane = rest[end+len("}:lane:"):]
	if ValidateLane(lane) != nil {
		return 0, "", false
	}
	return n, lane, true
}

// ExecutionID is a parsed FlowFabric execution id, "{fp:N}:<uuid>".
type ExecutionID struct {
	Partition int
	Raw       string
}

// ParseExecutionID checks that s is an id as FlowFabric mints them: the tag
// "{fp:N}" with N a 16-bit number without leading zeros, a colon, then a
// canonical hyphenated uuid in either case.
func ParseExecutionID(s string) (ExecutionID, error) {
	const prefix = "{fp:"
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return ExecutionID{}, fmt.Errorf("execution id %q must look like {fp:N}:<uuid>", s)
	}
	rest := s[len(prefix):]
	end := 0
	for end < len(rest) && rest[end] != '}' {
		end++
	}
	if end == len(rest) {
		return ExecutionID{}, fmt.Errorf("execution id %q must look like {fp:N}:<uuid>", s)
	}
	p, err := parsePartitionNumber(rest[:end])
	if err != nil {
		return ExecutionID{}, fmt.Errorf("execution id %q: %v", s, err)
	}
	rest = rest[end+1:]
	if len(rest) == 0 || rest[0] != ':' || !isUUID(rest[1:]) {
		return ExecutionID{}, fmt.Errorf("execution id %q must end in a hyphenated uuid after the tag {fp:%d}", s, p)
	}
	return ExecutionID{Partition: p, Raw: s}, nil
}

// parsePartitionNumber accepts decimal 0..65535 without leading zeros.
func parsePartitionNumber(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("partition number is empty")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("partition number %q has a leading zero", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("partition number %q is not a decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("partition number %q does not fit in 16 bits", s)
	}
	return int(n), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// MaxLaneLen is FlowFabric's limit on a lane id.
const MaxLaneLen = 64

// ValidateLane checks FlowFabric's lane id rule: 1 to 64 bytes of printable
// ASCII (space, ':', '{', '}' and '*' included).
func ValidateLane(lane string) error {
	if lane == "" {
		return fmt.Errorf("lane name is empty")
	}
	if len(lane) > MaxLaneLen {
		return fmt.Errorf("lane name %.20q... is %d bytes; FlowFabric allows at most %d", lane, len(lane), MaxLaneLen)
	}
	for i := 0; i < len(lane); i++ {
		if lane[i] < 0x20 || lane[i] > 0x7e {
			return fmt.Errorf("lane name %q has byte 0x%02x; only printable ASCII is allowed", lane, lane[i])
		}
	}
	return nil
}

// EscapeGlob escapes SCAN/MATCH glob characters so a lane name matches
// itself only.
func EscapeGlob(s string) string {
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
