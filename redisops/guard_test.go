package redisops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// scanAll feeds b to a fresh scanner in pieces of size n (0: whole).
func scanAll(b []byte, n int) error {
	var s respScanner
	if n <= 0 {
		return s.feed(b)
	}
	for len(b) > 0 {
		k := min(n, len(b))
		if err := s.feed(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// resp3Values are one value of every RESP3 type.
var resp3Values = map[string]string{
	"simple":    "+OK\r\n",
	"error":     "-ERR x\r\n",
	"integer":   ":42\r\n",
	"bulk":      "$3\r\nabc\r\n",
	"null bulk": "$-1\r\n",
	"null":      "_\r\n",
	"boolean":   "#t\r\n",
	"double":    ",3.14\r\n",
	"big":       "(3492890328409238509324850943850943825024385\r\n",
	"verbatim":  "=7\r\ntxt:abc\r\n",
	"blob err":  "!5\r\nERR x\r\n",
	"array":     "*2\r\n:1\r\n:2\r\n",
	"map":       "%1\r\n+k\r\n+v\r\n",
	"set":       "~2\r\n+a\r\n+b\r\n",
	"push":      ">2\r\n+message\r\n+x\r\n",
	"empty":     "*0\r\n",
	"attribute": "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n+v\r\n",
}

// Every RESP3 type passes the guard alone, inside each aggregate, behind an
// attribute, and fed in pieces of every size: the guard says the same
// thing whatever the split.
func TestGuardAcceptsEveryType(t *testing.T) {
	for name, v := range resp3Values {
		for _, wrap := range []struct{ name, pre, post string }{
			{"alone", "", ""},
			{"in an array", "*1\r\n", ""},
			{"as a map value", "%1\r\n+k\r\n", ""},
			{"in a set", "~1\r\n", ""},
			{"behind an attribute", "|1\r\n+a\r\n+b\r\n", ""},
			{"nested 8 deep", strings.Repeat("*1\r\n", 8), ""},
			{"after a push", ">1\r\n+p\r\n", ""},
		} {
			b := []byte(wrap.pre + v + wrap.post)
			for split := 0; split <= len(b); split++ {
				if err := scanAll(b, split); err != nil {
					t.Errorf("%s %s, pieces of %d: %v", name, wrap.name, split, err)
					break
				}
			}
		}
	}
}

// What the guard must refuse, whatever the split.
func TestGuardRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
	}{
		{"attributes hiding nesting", "%1\r\n+server\r\n" + strings.Repeat("*1\r\n|0\r\n", 1000) + "+x\r\n"},
		{"a run of empty attributes", strings.Repeat("|0\r\n", 1000) + "+x\r\n"},
		{"attributes inside attributes", strings.Repeat("|1\r\n", 100) + "+x\r\n"},
		{"deep arrays", strings.Repeat("*1\r\n", 100) + "+x\r\n"},
		{"declared maps that add up", "%1\r\n+server\r\n" + strings.Repeat("%1048576\r\n+k\r\n", 15)},
		{"declared arrays that add up", strings.Repeat("*300000\r\n:1\r\n", 4)},
		{"many small aggregates over the budget", strings.Repeat("*2\r\n:1\r\n:2\r\n", maxDeclared/2+1)},
		{"a push flood", strings.Repeat(">2\r\n+message\r\n+x\r\n", maxDeclared/2+1) + "+OK\r\n"},
		{"a huge string", "$100000000000000\r\n"},
		{"a huge map", "%100000000000\r\n"},
		{"an endless line", "+" + strings.Repeat("a", maxLineLen+1)},
	} {
		b := []byte(tc.reply)
		for _, split := range []int{0, 1, 3, 7, 4096} {
			err := scanAll(b, split)
			if !errors.Is(err, errReplyTooLarge) {
				t.Errorf("%s, pieces of %d: %v, want refused", tc.name, split, err)
			}
		}
	}
}

// A new write starts a new budget: many replies in a row, each within it,
// pass.
func TestGuardBudgetPerWrite(t *testing.T) {
	var s respScanner
	reply := []byte(strings.Repeat("*2\r\n:1\r\n:2\r\n", 1000))
	for i := 0; i < maxDeclared/1000; i++ {
		s.reset()
		if err := s.feed(reply); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
}

// pipeClient is a go-redis client whose connections read reply through the
// guard: a loopback server answers the first command (HELLO) with it and
// then closes its side, so every later command gets EOF at once.
func pipeClient(t testing.TB, reply []byte) *redis.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer ln.Close()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		if _, err := conn.Read(buf); err != nil {
			return
		}
		conn.Write(reply)
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn)
	}()
	addr := ln.Addr().String()
	return redis.NewClient(&redis.Options{
		Addr: addr,
		Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			conn, err := net.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			return newReplyGuard(conn, conn, 5*time.Second, nil), nil
		},
		Protocol:        3,
		DisableIdentity: true,
		MaxRetries:      -1,
		DialerRetries:   1,
		DialTimeout:     5 * time.Second,
		ReadTimeout:     5 * time.Second,
		PoolSize:        1,
	})
}

// The guard in front of go-redis's own parser: a reply it lets through
// parses in bounded memory, never a panic or a stack overflow, and one it
// refuses is an error of its kind.
func FuzzGuard(f *testing.F) {
	for _, v := range resp3Values {
		f.Add([]byte("%1\r\n+server\r\n" + v))
	}
	f.Add([]byte("%1\r\n+server\r\n" + strings.Repeat("*1\r\n|0\r\n", 64) + "+x\r\n"))
	f.Add([]byte("%1\r\n+server\r\n" + strings.Repeat("%1048576\r\n+k\r\n", 15)))
	f.Add([]byte(strings.Repeat("|0\r\n", 64) + "+x\r\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		if len(reply) > 1<<16 {
			return
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := pipeClient(t, reply)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Ping(ctx)
		cancel()
		c.Close()
		runtime.ReadMemStats(&after)
		// Pre-sized slices and maps for everything declared, at most: a
		// map entry costs go-redis well under 256 bytes.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256*maxDeclared+64*uint64(len(reply))+(8<<20) {
			t.Fatalf("a %d-byte reply made go-redis allocate %d bytes", len(reply), grew)
		}
	})
}

// The cases of the issue through go-redis itself: refused by the guard with
// its error, memory bounded.
func TestGuardInFrontOfGoRedis(t *testing.T) {
	for _, tc := range []struct{ name, reply string }{
		{"attributes hiding nesting", "%1\r\n+server\r\n" + strings.Repeat("*1\r\n|0\r\n", 200_000) + "+x\r\n"},
		{"declared maps", "%1\r\n+server\r\n" + strings.Repeat("%1048576\r\n+k\r\n", 15)},
		{"declared arrays", "%1\r\n+server\r\n" + strings.Repeat("*1048576\r\n+k\r\n", 15)},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := pipeClient(t, []byte(tc.reply))
		err := c.Ping(context.Background()).Err()
		c.Close()
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "beyond ffdelay's limits") {
			t.Errorf("%s: %v, want the guard's error", tc.name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("%s: go-redis allocated %s", tc.name, fmt.Sprint(grew>>20, " MiB"))
		}
	}
}

// headerLen reads lengths exactly as strconv.ParseInt does (go-redis's
// rules), or the guard would pass a header go-redis reads differently.
func TestHeaderLenAsStrconv(t *testing.T) {
	for _, in := range []string{"0", "5", "-1", "+7", "-0", "123456789012345678", "1234567890123456789",
		"99999999999999999999", "", "-", "+", "1a", " 1", "1 ", "--1", "0x10", "1_000", "٣"} {
		n, ok := headerLen([]byte(in))
		want, err := strconv.ParseInt(in, 10, 64)
		if ok != (err == nil) || (ok && n != want) {
			t.Errorf("headerLen(%q) = %d, %v; strconv: %d, %v", in, n, ok, want, err)
		}
	}
}

// BenchmarkGuardFeed is the guard's own cost on a reply of 64 core reads
// (eight fields each), as it comes off a socket in 4 KiB reads.
func BenchmarkGuardFeed(b *testing.B) {
	var reply []byte
	for range 64 {
		reply = append(reply, "*8\r\n$7\r\ndelayed\r\n$13\r\nnot_scheduled\r\n$9\r\nunclaimed\r\n$13\r\n1796190894607\r\n$7\r\ndefault\r\n$1\r\n0\r\n$13\r\n1796190894000\r\n$7\r\ndefault\r\n"...)
	}
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	var s respScanner
	for b.Loop() {
		s.reset()
		for at := 0; at < len(reply); at += 4096 {
			if err := s.feed(reply[at:min(at+4096, len(reply))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
