package model

import (
	"math"
	"strconv"
	"testing"
)

func TestLuaNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1795626254901", 1795626254901, true},
		{" 42 ", 42, true},
		{"1.5e3", 1500, true},
		{"-1e400", math.Inf(-1), true},
		{"1e400", math.Inf(1), true},
		{"inf", math.Inf(1), true},
		{"-INFINITY", math.Inf(-1), true},
		{"0x10", 16, true},
		{"-0x1p4", -16, true},
		{"1e-400", 0, true},
		{"", 0, false},
		{"  ", 0, false},
		{"abc", 0, false},
		{"12abc", 0, false},
		{"1_000", 0, false},
		{"0x", 0, false},
	} {
		got, ok := LuaNumber(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("LuaNumber(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for _, in := range []string{"nan", "NaN", "-nan", "nan(1)"} {
		if got, ok := LuaNumber(in); !ok || !math.IsNaN(got) {
			t.Errorf("LuaNumber(%q) = %v, %v; want NaN", in, got, ok)
		}
	}
}

func TestPromoteScore(t *testing.T) {
	if s, fault := PromoteScore("2", true, "1000", true); fault != "" || s != -2e12+1000 {
		t.Errorf("score %v fault %q", s, fault)
	}
	if s, fault := PromoteScore("", false, "", false); fault != "" || s != 0 {
		t.Errorf("missing fields count as 0: %v %q", s, fault)
	}
	for _, tc := range [][4]string{{"nan", "1", "priority"}, {"x", "1", "priority"}, {"1", "", "created_at"}, {"inf", "inf", "score"}} {
		if _, fault := PromoteScore(tc[0], true, tc[1], true); fault == "" {
			t.Errorf("priority %q created_at %q: no fault", tc[0], tc[1])
		}
	}
	if s, fault := PromoteScore("inf", true, "1", true); fault != "" || !math.IsInf(s, -1) {
		t.Errorf("an infinite score is a score ZADD takes: %v %q", s, fault)
	}
}

// The fast path for plain integers reads what the general path reads.
func TestLuaNumberPlainIntegers(t *testing.T) {
	for _, in := range []string{"0", "-0", "7", "-42", "000123", "1795626254901", "999999999999999", "-999999999999999", "1000000000000000", "-", "1-", "+5", "12 "} {
		fast, fastOK := plainInteger(in)
		if !fastOK {
			continue
		}
		slow, err := strconv.ParseFloat(in, 64)
		if err != nil || fast != slow || math.Signbit(fast) != math.Signbit(slow) {
			t.Errorf("plainInteger(%q) = %v, strconv reads %v (%v)", in, fast, slow, err)
		}
	}
	for _, in := range []string{"", "-", "+5", "1.0", "1e3", "0x1", " 1", "1000000000000000"} {
		if _, ok := plainInteger(in); ok {
			t.Errorf("plainInteger(%q) took it; the general path must", in)
		}
	}
}
