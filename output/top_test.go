package output

import (
	"bytes"
	"strings"
	"testing"
)

// top's snapshot (stdout not a terminal) is the screen without its keys
// line, whether colour is on (--color always) or off; with colour on it is
// coloured, though stdout is no terminal.
func TestTopSnapshotHasNoKeys(t *testing.T) {
	for _, colour := range []bool{false, true} {
		var out bytes.Buffer
		p := New(&out, &bytes.Buffer{}, Table, colour, false)
		p.TopSnapshot(TopView{Server: "127.0.0.1:6379", Product: "valkey 8.0.1", Partitions: 4, Lanes: 1, Conn: "connected",
			Rows: []TopRow{{Lane: "default", Partition: -1}}, Stuck: "2 stuck executions"})
		p.Flush()
		s := out.String()
		if strings.Contains(s, "q quit") || !strings.Contains(s, "ffdelay top") || !strings.Contains(s, "2 stuck executions") {
			t.Errorf("colour %v: want the screen without its keys line:\n%s", colour, s)
		}
		if colour != strings.Contains(s, "\x1b[") {
			t.Errorf("colour %v: escape sequences %v, want %v", colour, !colour, colour)
		}
		if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
			t.Errorf("colour %v: want one newline at the end: %q", colour, s)
		}
	}
}
