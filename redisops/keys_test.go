package redisops

import (
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/internal/model"
)

func TestKeys(t *testing.T) {
	id := "{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"
	for _, tc := range []struct{ got, want string }{
		{DelayedKey(7, "default"), "ff:idx:{fp:7}:lane:default:delayed"},
		{EligibleKey(7, "a b:{c}*"), "ff:idx:{fp:7}:lane:a b:{c}*:eligible"},
		{CoreKey(7, id), "ff:exec:{fp:7}:{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11:core"},
		{TagsKey(7, id), "ff:exec:{fp:7}:{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11:tags"},
		{AllExecutionsKey(0), "ff:idx:{fp:0}:all_executions"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseExecutionID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		part    int
		wantErr string
	}{
		{"{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 7, ""},
		{"{fp:0}:0B9E5A0C-1F2D-4C1B-9A53-6F0E2A7D9C11", 0, ""},
		{"{fp:65535}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 65535, ""},
		{"{fp:65536}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 0, "16 bits"},
		{"{fp:07}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 0, "leading zero"},
		{"{fp:-1}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 0, "not a decimal"},
		{"{fp:}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 0, "empty"},
		{"0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 0, "must look like"},
		{"{fp:7}0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11", 0, "hyphenated uuid"},
		{"{fp:7}:0b9e5a0c1f2d4c1b9a536f0e2a7d9c11", 0, "hyphenated uuid"},
		{"{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c1g", 0, "hyphenated uuid"},
		{"{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11 ", 0, "hyphenated uuid"},
		{"{fp:7", 0, "must look like"},
		{"", 0, "must look like"},
	} {
		id, err := model.ParseExecutionID(tc.in)
		if tc.wantErr == "" {
			if err != nil || id.Partition != tc.part || id.Raw != tc.in {
				t.Errorf("ParseExecutionID(%q) = %+v, %v", tc.in, id, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseExecutionID(%q) error = %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestParseDelayedKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		p    int
		lane string
		ok   bool
	}{
		{"ff:idx:{fp:3}:lane:default:delayed", 3, "default", true},
		{"ff:idx:{fp:300}:lane:a:b:{c}:delayed", 300, "a:b:{c}", true},
		{"ff:idx:{fp:3}:lane::delayed", 0, "", false},
		{"ff:idx:{fp:03}:lane:x:delayed", 0, "", false},
		{"ff:idx:{fp:3}:lane:x:eligible", 0, "", false},
		{"ff:idx:{fp:3}:all_executions", 0, "", false},
	} {
		p, lane, ok := parseDelayedKey(tc.key)
		if ok != tc.ok || p != tc.p || lane != tc.lane {
			t.Errorf("ParseDelayedKey(%q) = %d %q %v", tc.key, p, lane, ok)
		}
		if ok && DelayedKey(p, lane) != tc.key {
			t.Errorf("round trip of %q gives %q", tc.key, DelayedKey(p, lane))
		}
	}
}

func TestValidateLane(t *testing.T) {
	ok := []string{"default", "a b", "x:{y}*", strings.Repeat("l", 64), " "}
	bad := []string{"", strings.Repeat("l", 65), "tab\there", "é", "nul\x00"}
	for _, l := range ok {
		if err := model.ValidateLane(l); err != nil {
			t.Errorf("ValidateLane(%q) = %v", l, err)
		}
	}
	for _, l := range bad {
		if err := model.ValidateLane(l); err == nil {
			t.Errorf("ValidateLane(%q) accepted", l)
		}
	}
}

func TestEscapeGlob(t *testing.T) {
	if got := escapeGlob(`a*b?[c]\d`); got != `a\*b\?\[c\]\\d` {
		t.Errorf("EscapeGlob = %q", got)
	}
}

func TestDecodePromoteReply(t *testing.T) {
	for _, tc := range []struct {
		v       any
		outcome model.Outcome
		detail  string
	}{
		{[]any{int64(1), "OK", "promoted"}, model.Promoted, ""},
		{[]any{int64(1), "OK", "not_yet_due"}, model.NotYetDue, ""},
		{[]any{int64(1), "OK", "not_found_cleaned"}, model.NotFoundCleaned, ""},
		{[]any{int64(1), "OK", "not_runnable_cleaned"}, model.NotRunnableCleaned, ""},
		{[]any{int64(1), "OK", "not_delayed_cleaned"}, model.NotDelayedCleaned, ""},
		{[]any{int64(0), "invalid_input", "now_ms must be a number, got: x"}, model.Failed, "invalid_input: now_ms must be a number, got: x"},
		{[]any{int64(1), "OK", "teleported"}, model.Failed, `unknown outcome from ff_promote_delayed: "teleported"`},
		{[]any{int64(1), "OK"}, model.Failed, "unexpected reply"},
		{"OK", model.Failed, "unexpected reply"},
		{int64(1), model.Failed, "unexpected reply"},
		{nil, model.Failed, "unexpected reply"},
		{[]any{int64(2), "OK", "promoted"}, model.Failed, "unexpected reply"},
	} {
		o, d := DecodePromoteReply(tc.v, nil)
		if o != tc.outcome || !strings.Contains(d, tc.detail) {
			t.Errorf("DecodePromoteReply(%v) = %s %q, want %s %q", tc.v, o, d, tc.outcome, tc.detail)
		}
	}
}

func FuzzParseExecutionID(f *testing.F) {
	f.Add("{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11")
	f.Add("{fp:07}:x")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := model.ParseExecutionID(s)
		if err != nil {
			return
		}
		if id.Partition < 0 || id.Partition > 65535 || id.Raw != s || partitionTag(id.Partition)+":" != s[:len(partitionTag(id.Partition))+1] {
			t.Fatalf("accepted %q as %+v", s, id)
		}
	})
}

func FuzzParseDelayedKey(f *testing.F) {
	f.Add("ff:idx:{fp:3}:lane:default:delayed")
	f.Fuzz(func(t *testing.T, s string) {
		p, lane, ok := parseDelayedKey(s)
		if ok && DelayedKey(p, lane) != s {
			t.Fatalf("%q parsed as %d %q", s, p, lane)
		}
	})
}

func FuzzValidateLane(f *testing.F) {
	f.Add("default")
	f.Fuzz(func(t *testing.T, s string) {
		if model.ValidateLane(s) == nil && (len(s) == 0 || len(s) > 64) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzDecodePromoteReply(f *testing.F) {
	f.Add(int64(1), "OK", "promoted")
	f.Fuzz(func(t *testing.T, status int64, code, detail string) {
		o, _ := DecodePromoteReply([]any{status, code, detail}, nil)
		if o != model.Failed && (status != 1 || code != "OK" || string(o) != detail) {
			t.Fatalf("[%d %q %q] decoded as %s", status, code, detail, o)
		}
	})
}
