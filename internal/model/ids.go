package model

import (
	"fmt"
	"strconv"
)

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
	p, err := ParsePartitionNumber(rest[:end])
	if err != nil {
		return ExecutionID{}, fmt.Errorf("execution id %q: %v", s, err)
	}
	rest = rest[end+1:]
	if len(rest) == 0 || rest[0] != ':' || !isUUID(rest[1:]) {
		return ExecutionID{}, fmt.Errorf("execution id %q must end in a hyphenated uuid after the tag {fp:%d}", s, p)
	}
	return ExecutionID{Partition: p, Raw: s}, nil
}

// ParsePartitionNumber accepts decimal 0..65535 without leading zeros.
func ParsePartitionNumber(s string) (int, error) {
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

// IsUUID reports a hyphenated uuid (either case): the part of an execution
// id after its tag, as logs often show it alone.
func IsUUID(s string) bool { return isUUID(s) }

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

// maxLaneLen is FlowFabric's limit on a lane id.
const maxLaneLen = 64

// ValidateLane checks FlowFabric's lane id rule: 1 to 64 bytes of printable
// ASCII (space, ':', '{', '}' and '*' included).
func ValidateLane(lane string) error {
	if lane == "" {
		return fmt.Errorf("lane name is empty")
	}
	if len(lane) > maxLaneLen {
		return fmt.Errorf("lane name %.20q... is %d bytes; FlowFabric allows at most %d", lane, len(lane), maxLaneLen)
	}
	for i := 0; i < len(lane); i++ {
		if lane[i] < 0x20 || lane[i] > 0x7e {
			return fmt.Errorf("lane name %q has byte 0x%02x; only printable ASCII is allowed", lane, lane[i])
		}
	}
	return nil
}
