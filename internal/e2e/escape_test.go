package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/flowfabric/ffdelay/internal/fftest"
)

// hostileText is what a server may slip into any string it sends: an OSC
// window title, a clear screen and an OSC 52 clipboard write.
const hostileText = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07"

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

// Every string a server sends that ffdelay shows (INFO fields, library and
// function names, ff_version, error replies, lanes) reaches the terminal
// escaped, in every command's table output.
func TestServerStringsEscaped(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	info := "# Server\r\nredis_version:7.2.0" + hostileText + "\r\nvalkey_version:8.0.1" + hostileText + "\r\ncluster_enabled:0\r\n"
	lib := "%3\r\n" + bulk("library_name") + bulk("flowfabric") + bulk("engine") + bulk("LUA") + bulk("functions") +
		"*2\r\n" +
		"%2\r\n" + bulk("name") + bulk("ff_promote_delayed") + bulk("flags") + "*0\r\n" +
		"%2\r\n" + bulk("name") + bulk("ff_x"+hostileText) + bulk("flags") + "*0\r\n"
	f, err := fftest.StartScriptedFakeServer(map[string]string{
		"HELLO":    "%1\r\n+server\r\n+redis\r\n",
		"CLIENT":   "+OK\r\n",
		"PING":     "+PONG\r\n",
		"INFO":     bulk(info),
		"HGET":     bulk("4"),
		"HMGET":    "*3\r\n" + bulk("waiting"+hostileText) + bulk("x"+hostileText) + bulk("lane"+hostileText),
		"HGETALL":  "%1\r\n" + bulk("public_state") + bulk("waiting"+hostileText),
		"SMEMBERS": "*2\r\n" + bulk("default") + bulk("paym"+hostileText),
		"TIME":     "*2\r\n" + bulk("1800000000") + bulk("0"),
		"FUNCTION": "*1\r\n" + lib,
		"FCALL":    bulk("34" + hostileText),
		"ZCARD":    ":1\r\n",
		"ZCOUNT":   ":1\r\n",
		"ZSCORE":   "_\r\n",
		"SCAN":     "*2\r\n" + bulk("0") + "*1\r\n" + bulk("ff:idx:{fp:0}:lane:ln"+hostileText+":delayed"),
		"SSCAN":    "*2\r\n" + bulk("0") + "*1\r\n" + bulk("{fp:0}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"),
		"ZRANGEBYSCORE": "*2\r\n*2\r\n" + bulk("{fp:0}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11") + ",1700000000000\r\n" +
			"*2\r\n" + bulk("m"+hostileText) + ",1700000000001\r\n",
		"SCARD":  ":1\r\n",
		"DBSIZE": ":1\r\n",
		"*":      "-ERR boom" + hostileText + "\r\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, args := range [][]string{
		{"check"}, {"check", "--discover-lanes"}, {"list"}, {"list", "--discover-lanes", "--executions"},
		{"promote", "--dry-run"}, {"audit"}, {"inspect", "{fp:0}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11"},
		{"promote", "--watch", "--max-cycles", "1", "--interval", "100ms"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append(args, "--url", "redis://"+f.Addr(), "--timeout", "2s", "--color", "never")...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		out := stdout.String() + stderr.String()
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%v printed a raw control byte:\n%q", args, out)
		}
		t.Logf("%v:\n%s", args, out)
	}
}
