package output

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"default":                "default",
		"payments eu":            "payments eu",
		"tab\there":              `tab\x09here`,
		"\x1b[2K\rpromoted":      `\x1b[2K\x0dpromoted`,
		"clip\x1b]52;c;aGk=\x07": `clip\x1b]52;c;aGk=\x07`,
		"del\x7f":                `del\x7f`,
		"c1\u009b31m":            `c1\u009b31m`,
		"bidi\u202eevil":         `bidi\u202eevil`,
		"東京-gpu":                 "東京-gpu",
		"bad\xffutf8":            `bad\xffutf8`,
		"line\u2028sep":          `line\u2028sep`,
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafe(f *testing.F) {
	f.Add("\x1b]52;c;aGk=\x07")
	f.Fuzz(func(t *testing.T, s string) {
		out := Safe(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Safe(%q) = %q is not valid UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || strings.ContainsRune("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069", r) {
				t.Fatalf("Safe(%q) = %q still holds %U", s, out, r)
			}
		}
	})
}

// A value JSON cannot hold is an error of the run, and the document stays
// valid.
func TestEncodeErrorIsKept(t *testing.T) {
	var out, errw strings.Builder
	p := New(&out, &errw, JSON, false, false)
	p.writeJSON(map[string]float64{"x": math.Inf(1)})
	p.Flush()
	if p.EncodeErr() == nil || out.String() != "null" {
		t.Fatalf("EncodeErr %v, output %q", p.EncodeErr(), out.String())
	}
}
