package commands

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/model"
)

// ParsePartitionSpec parses "7", "0-15" or "0-15,42" into sorted, distinct
// partitions. Range against the configured count is checked separately.
func parsePartitionSpec(spec string) ([]int, error) {
	bad := func(why string) error {
		return fmt.Errorf("--partition %q: %s (use forms like 7, 0-15 or 0-15,42)", spec, why)
	}
	if strings.TrimSpace(spec) == "" {
		return nil, bad("empty")
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := partitionNumber(lo)
		if err != nil {
			return nil, bad(err.Error())
		}
		b := a
		if isRange {
			if b, err = partitionNumber(hi); err != nil {
				return nil, bad(err.Error())
			}
			if b < a {
				return nil, bad(fmt.Sprintf("range %d-%d runs backwards", a, b))
			}
		}
		for p := a; p <= b; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

func partitionNumber(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a partition number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("%q is not a partition number (0 to 65535)", s)
	}
	return n, nil
}

// ParseLanes splits repeated or comma-separated --lane values and checks
// each against FlowFabric's lane rule.
func parseLanes(values []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		for _, l := range strings.Split(v, ",") {
			if err := model.ValidateLane(l); err != nil {
				return nil, fmt.Errorf("--lane: %v", err)
			}
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	return out, nil
}

// ParseTagFilter parses KEY=VALUE.
func parseTagFilter(s string) (model.TagFilter, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return model.TagFilter{}, fmt.Errorf("--tag %q must be KEY=VALUE, e.g. --tag acme.instance=eu-1", s)
	}
	return model.TagFilter{Key: k, Value: v}, nil
}

// parseBoolEnv reads a yes/no value: what strconv.ParseBool takes, and
// yes/no, y/n, on/off in any case; ok is false for anything else.
func parseBoolEnv(s string) (value, ok bool) {
	s = strings.TrimSpace(s)
	if b, err := strconv.ParseBool(s); err == nil {
		return b, true
	}
	switch strings.ToLower(s) {
	case "yes", "y", "on":
		return true, true
	case "no", "n", "off":
		return false, true
	}
	return false, false
}

// ParseDuration parses a Go duration such as 750ms or 2s; it must be > 0.
func parseDuration(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if _, nerr := strconv.Atoi(s); nerr == nil {
			return 0, fmt.Errorf("%s %q needs a unit, e.g. %sms or %ss", flag, s, s, s)
		}
		return 0, fmt.Errorf("%s %q is not a duration (use forms like 750ms, 5s, 2m)", flag, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s %q must be positive", flag, s)
	}
	return d, nil
}

// Target is where a URL points.
type target struct {
	Addrs       []string
	User        string
	Password    string
	HasPassword bool
	DB          int
	TLS         bool
}

// ParseURL parses one or more comma-separated URLs:
// redis://[user[:password]@]host[:port][/db]; rediss:// means TLS; valkey://
// and valkeys:// are aliases. Errors never contain the password.
func parseURL(raw string) (target, error) {
	var t target
	for i, piece := range splitSeeds(raw) {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			return target{}, fmt.Errorf("--url %q has an empty entry", redactURL(raw))
		}
		one, err := parseOneURL(piece)
		if err != nil {
			return target{}, err
		}
		if i == 0 {
			t = one
			continue
		}
		if one.TLS != t.TLS {
			return target{}, fmt.Errorf("--url %q mixes TLS and plain seeds", redactURL(raw))
		}
		t.Addrs = append(t.Addrs, one.Addrs...)
		if t.User == "" {
			t.User = one.User
		}
		if !t.HasPassword && one.HasPassword {
			t.Password, t.HasPassword = one.Password, true
		}
	}
	return t, nil
}

func parseOneURL(s string) (target, error) {
	red := redactURL(s)
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return target{}, fmt.Errorf("--url %q is not a URL like redis://[user[:password]@]host[:port][/db]", red)
	}
	var t target
	switch strings.ToLower(u.Scheme) {
	case "redis", "valkey":
	case "rediss", "valkeys":
		t.TLS = true
	default:
		return target{}, fmt.Errorf("--url %q: scheme %q is not redis, rediss, valkey or valkeys", red, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return target{}, fmt.Errorf("--url %q has no host", red)
	}
	if port == "" {
		port = "6379"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return target{}, fmt.Errorf("--url %q: port %q is not 1 to 65535", red, port)
	}
	t.Addrs = []string{net.JoinHostPort(host, port)}
	if u.User != nil {
		t.User = u.User.Username()
		t.Password, t.HasPassword = u.User.Password()
	}
	if path := strings.Trim(u.Path, "/"); path != "" {
		db, err := strconv.Atoi(path)
		if err != nil || db < 0 {
			return target{}, fmt.Errorf("--url %q: database %q is not a number", red, path)
		}
		t.DB = db
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return target{}, fmt.Errorf("--url %q: query options are not supported; use ffdelay's flags", red)
	}
	return t, nil
}

// RedactURL hides the user information of the URLs in s, whatever it
// contains (commas, colons, '@'): everything from the first "://" to the
// last '@' is replaced, so no part of a password can reach a message. Text
// that is not a URL loses everything before its last '@'.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := strings.Index(s, "://")
	if start < 0 || start > at {
		return "xxxxx" + s[at:]
	}
	return s[:start+3] + "xxxxx" + s[at:]
}

// splitSeeds splits a comma-separated seed list only where a new URL
// starts, so a comma inside a password does not cut the URL in two.
func splitSeeds(raw string) []string {
	var out []string
	start := 0
	for i := 0; i < len(raw); i++ {
		if raw[i] != ',' {
			continue
		}
		rest := strings.TrimSpace(raw[i+1:])
		if rest == "" || startsWithScheme(rest) {
			out = append(out, raw[start:i])
			start = i + 1
		}
	}
	return append(out, raw[start:])
}

func startsWithScheme(s string) bool {
	for _, scheme := range []string{"redis://", "rediss://", "valkey://", "valkeys://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return true
		}
	}
	return false
}
