package output

import (
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:      "850ms",
		5049 * time.Millisecond:     "5.0s",
		59960 * time.Millisecond:    "59s",
		252 * time.Second:           "4m12s",
		3*time.Hour + 5*time.Minute: "3h05m",
		52 * time.Hour:              "2d04h",
		-2 * time.Second:            "2.0s",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
