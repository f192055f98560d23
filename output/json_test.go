package output

import (
	"testing"

	"github.com/flowfabric/ffdelay/internal/model"
)

func checkAppendResult(t *testing.T, r model.Result) {
	t.Helper()
	want, err := jsonMarshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendResult(nil, r); string(got) != string(want) {
		t.Errorf("appendResult:\n got %s\nwant %s", got, want)
	}
}

// The hand-written result encoding gives encoding/json's bytes, for the
// plain strings it writes itself and for every string it hands over.
func TestAppendResultAsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "default", "payments eu", "{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11",
		`a"b`, `a\b`, "tab\there", "nl\n", "\x00\x1f\x7f", "<&>", "é", "日本", "\u2028\u2029", "\xff\xfe", "a\xc3", "\x1b[31mred"} {
		checkAppendResult(t, model.Result{Partition: 7, Lane: s, ExecutionID: s, Outcome: model.Outcome(s), Reason: s, Error: s})
		checkAppendResult(t, model.Result{Partition: -1, Lane: s, ExecutionID: "x", Outcome: model.Promoted})
	}
	checkAppendResult(t, model.Result{Partition: 1 << 40, Outcome: model.Failed, Why: model.WhyMalformed, WhyDetail: "not written"})
}

func FuzzAppendResult(f *testing.F) {
	f.Add(3, "default", "{fp:3}:id", "promoted", "", "")
	f.Add(0, "a\"b", "\xff", "x\u2028", "<reason>", "ERR \x00")
	f.Fuzz(func(t *testing.T, partition int, lane, id, outcome, reason, errText string) {
		checkAppendResult(t, model.Result{Partition: partition, Lane: lane, ExecutionID: id, Outcome: model.Outcome(outcome), Reason: reason, Error: errText})
	})
}
