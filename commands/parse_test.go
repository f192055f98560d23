package commands

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePartitionSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"7", []int{7}, ""},
		{"0-3", []int{0, 1, 2, 3}, ""},
		{"0-2,42", []int{0, 1, 2, 42}, ""},
		{"5,1-2,2", []int{1, 2, 5}, ""},
		{" 3 , 4 ", []int{3, 4}, ""},
		{"", nil, "empty"},
		{"a", nil, "not a partition number"},
		{"3-1", nil, "runs backwards"},
		{"1-", nil, "missing number"},
		{"-1", nil, "missing number"},
		{"1,,2", nil, "missing number"},
		{"70000", nil, "0 to 65535"},
		{"1-2-3", nil, "not a partition number"},
	} {
		got, err := parsePartitionSpec(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePartitionSpec(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePartitionSpec(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseLanes(t *testing.T) {
	got, err := parseLanes([]string{"a,b", "c", "a"})
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("ParseLanes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "a,", strings.Repeat("x", 65), "bad\x01"} {
		if _, err := parseLanes([]string{bad}); err == nil {
			t.Errorf("ParseLanes(%q) accepted", bad)
		}
	}
}

func TestParseTagFilter(t *testing.T) {
	f, err := parseTagFilter("acme.instance=eu-1=x")
	if err != nil || f.Key != "acme.instance" || f.Value != "eu-1=x" {
		t.Errorf("ParseTagFilter = %+v, %v", f, err)
	}
	if f, err := parseTagFilter("k="); err != nil || f.Value != "" {
		t.Errorf("empty value: %+v, %v", f, err)
	}
	for _, bad := range []string{"", "k", "=v"} {
		if _, err := parseTagFilter(bad); err == nil {
			t.Errorf("ParseTagFilter(%q) accepted", bad)
		}
	}
}

func TestParseBoolEnv(t *testing.T) {
	type result struct{ value, ok bool }
	for in, want := range map[string]result{
		"1": {true, true}, "true": {true, true}, "TRUE": {true, true}, "True": {true, true}, "t": {true, true},
		"yes": {true, true}, "on": {true, true}, "Y": {true, true},
		"0": {false, true}, "false": {false, true}, "no": {false, true}, "off": {false, true},
		"": {false, false}, "maybe": {false, false}, "2": {false, false},
	} {
		if v, ok := parseBoolEnv(in); v != want.value || ok != want.ok {
			t.Errorf("parseBoolEnv(%q) = %v, %v; want %v, %v", in, v, ok, want.value, want.ok)
		}
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := parseDuration("--x", "750ms"); err != nil || d != 750*time.Millisecond {
		t.Errorf("750ms = %v, %v", d, err)
	}
	for in, want := range map[string]string{"5": "needs a unit", "0s": "must be positive", "-1s": "must be positive", "soon": "not a duration"} {
		if _, err := parseDuration("--x", in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want target
	}{
		{"redis://localhost", target{Addrs: []string{"localhost:6379"}}},
		{"rediss://u:p%40ss@10.0.0.5:7000/3", target{Addrs: []string{"10.0.0.5:7000"}, User: "u", Password: "p@ss", HasPassword: true, DB: 3, TLS: true}},
		{"valkey://:pw@h:1", target{Addrs: []string{"h:1"}, Password: "pw", HasPassword: true}},
		{"valkeys://[::1]:6380", target{Addrs: []string{"[::1]:6380"}, TLS: true}},
		{"redis://a:7000,redis://b:7001", target{Addrs: []string{"a:7000", "b:7001"}}},
	} {
		got, err := parseURL(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"localhost:6379", "http://h", "redis://", "redis://h:0", "redis://h:x", "redis://h/db", "redis://h?x=1",
		"redis://a,rediss://b", "redis://h,"} {
		if _, err := parseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://u:secret@h:1":            "redis://xxxxx@h:1",
		"redis://:secret@h,redis://:s2@g": "redis://xxxxx@g",
		"redis://h":                       "redis://h",
		"redis://user@h":                  "redis://xxxxx@h",
		"redis://:se,cr@et@h":             "redis://xxxxx@h",
		"redis://:a://b@h":                "redis://xxxxx@h",
		"password se,cr@h":                "xxxxx@h",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A password with a comma stays one URL, and its errors leak no part of it.
func TestParseURLCommaPassword(t *testing.T) {
	tg, err := parseURL("redis://:pa,ss@h:1")
	if err != nil || tg.Password != "pa,ss" || len(tg.Addrs) != 1 {
		t.Fatalf("ParseURL = %+v, %v", tg, err)
	}
	tg, err = parseURL("redis://:pa,ss@h:1,redis://:x@g:2")
	if err != nil || len(tg.Addrs) != 2 {
		t.Fatalf("two seeds: %+v, %v", tg, err)
	}
	_, err = parseURL("redis://:pa,ss@h:99999")
	if err == nil || strings.Contains(err.Error(), "pa") || strings.Contains(err.Error(), "ss@") {
		t.Fatalf("error %v leaks the password", err)
	}
}

func TestReorderArgs(t *testing.T) {
	app := newApp(context.Background(), &deps{env: map[string]string{}})
	got := reorderArgs(app, []string{"ffdelay", "-o", "json", "inspect", "ID1", "--lane", "x", "ID2", "--quiet"})
	want := []string{"ffdelay", "-o", "json", "inspect", "--lane", "x", "--quiet", "--", "ID1", "ID2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reorderArgs = %q, want %q", got, want)
	}
}

func FuzzParsePartitionSpec(f *testing.F) {
	f.Add("0-15,42")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePartitionSpec(s)
		if err != nil {
			return
		}
		for i, p := range ps {
			if p < 0 || p > 65535 || (i > 0 && ps[i-1] >= p) {
				t.Fatalf("%q gave %v", s, ps)
			}
		}
	})
}

func FuzzParseLanes(f *testing.F) {
	f.Add("a,b")
	f.Fuzz(func(t *testing.T, s string) {
		lanes, err := parseLanes([]string{s})
		if err != nil {
			return
		}
		for _, l := range lanes {
			if l == "" || len(l) > 64 || strings.Contains(l, ",") {
				t.Fatalf("%q gave lane %q", s, l)
			}
		}
	})
}

func FuzzParseTagFilter(f *testing.F) {
	f.Add("k=v")
	f.Fuzz(func(t *testing.T, s string) {
		tf, err := parseTagFilter(s)
		if err == nil && (tf.Key == "" || tf.Key+"="+tf.Value != s) {
			t.Fatalf("%q gave %+v", s, tf)
		}
	})
}

func FuzzParseURL(f *testing.F) {
	f.Add("redis://u:secret@h:1/2")
	f.Add("rediss://:secret@[::1]:7000,redis://x")
	f.Add("redis://:se,cret@h")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseURL(s)
		// No part of a userinfo may reach an error: with the marker
		// "secret" inside the userinfo, the message must not contain it.
		at := strings.LastIndex(s, "@")
		start := strings.Index(s, "://")
		if err != nil && start >= 0 && at > start && strings.Contains(s[start:at], "secret") && strings.Contains(err.Error(), "secret") {
			t.Fatalf("error leaks the password: %v", err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	f.Add("750ms")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration("--x", s)
		if err == nil && d <= 0 {
			t.Fatalf("%q gave %v", s, d)
		}
	})
}

// reorderArgs only moves arguments: it never drops one, adds one (but the
// "--" before the positional ones) or panics.
func FuzzReorderArgs(f *testing.F) {
	f.Add("inspect ID1 --lane x ID2 -o json")
	f.Add("-o json promote --watch --interval 1s")
	f.Add("list -- --not-a-flag")
	f.Add("--url redis://h inspect")
	app := newApp(context.Background(), &deps{env: map[string]string{}})
	f.Fuzz(func(t *testing.T, s string) {
		args := append([]string{"ffdelay"}, strings.Fields(s)...)
		out := reorderArgs(app, args)
		count := map[string]int{}
		for _, a := range args {
			count[a]++
		}
		for _, a := range out {
			count[a]--
		}
		for a, n := range count {
			if n != 0 && !(a == "--" && n == -1) {
				t.Fatalf("reorderArgs(%q) = %q: %q appears %d times more in the input", args, out, a, n)
			}
		}
	})
}
