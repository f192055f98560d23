package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A write error on stdout (a full disk) exits 1 with one line; a reader
// that went away (a broken pipe) ends quietly.
func TestStdoutWriteErrors(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "version", "-o", "json")
	cmd.Stdout, cmd.Stderr = full, &stderr
	if code := exitCodeOf(cmd.Run()); code != 1 {
		t.Errorf("stdout on /dev/full: exit %d, want 1", code)
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "cannot write the output") {
		t.Errorf("stderr = %q, want one line saying the output could not be written", stderr.String())
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	stderr.Reset()
	cmd = exec.Command(bin, "version")
	cmd.Stdout, cmd.Stderr = w, &stderr
	code := exitCodeOf(cmd.Run())
	w.Close()
	if code != 0 || stderr.Len() != 0 {
		t.Errorf("broken pipe: exit %d, stderr %q; want a quiet exit 0", code, stderr.String())
	}
}
