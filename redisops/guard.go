package redisops

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// Limits on what one server reply may declare or hold. go-redis trusts a
// reply's declared sizes (a "$100000000000000" header is a makeslice panic,
// a deep nesting a stack overflow, an endless simple string gigabytes, a
// map header a map pre-sized for its declared pairs), so every connection
// reads through a guard that checks each header before go-redis sees it.
// The limits are far above what FlowFabric's data needs: ffdelay reads
// pages of at most 2,048 members, cores of a few dozen fields and replies
// of three elements, in pipelines of at most a few thousand commands.
const (
	maxBulkLen = 16 << 20 // one bulk string
	// maxDeclared is the element budget of everything read after one
	// write: every aggregate's declared count adds to it (a map's or an
	// attribute's pairs count twice), so many aggregates that each look
	// small cannot add up to gigabytes of pre-sized slices and maps.
	maxDeclared = 1 << 19
	// maxDepth bounds go-redis's recursion: open aggregates plus the
	// attributes waiting for the element they annotate (go-redis reads an
	// attribute, drops it and reads the element in a nested call).
	maxDepth     = 16
	maxLineLen   = 64 << 10 // one simple string, error, number or header line
	maxReplySize = 64 << 20 // everything read after one write
)

// errReplyTooLarge is what a guard reports when a reply breaks a limit.
var errReplyTooLarge = errors.New("the server sent a reply beyond ffdelay's limits (a broken or hostile server?)")

// guardedDialer dials like go-redis would (TCP, then TLS when configured)
// and wraps the connection in a replyGuard that asks gate before each
// request that writes. A dial or a handshake that fails has written
// nothing: its error says so (FateOf: NotRun).
func guardedDialer(timeout time.Duration, tlsConf *tls.Config, gate *writeGate) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Minute}
		tcp, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, notWritten(err)
		}
		conn := tcp
		if tlsConf != nil {
			conf := tlsConf.Clone()
			if conf.ServerName == "" {
				if host, _, err := net.SplitHostPort(addr); err == nil {
					conf.ServerName = host
				}
			}
			tc := tls.Client(tcp, conf)
			hctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				tcp.Close()
				return nil, notWritten(err)
			}
			conn = tc
		}
		return newReplyGuard(conn, tcp, timeout, gate), nil
	}
}

// replyGuard follows the RESP stream a connection reads and fails the read
// that would hand go-redis a header beyond the limits. It also knows the
// connection's life (connlife.go): whether it is still being set up,
// whether a write starts a new request, when it was last used.
type replyGuard struct {
	net.Conn
	scan respScanner
	err  error

	// tcp is the socket under TLS (Conn itself without TLS), for the
	// pool's check; timeout bounds the idle probe.
	tcp     net.Conn
	timeout time.Duration
	gate    *writeGate
	lastUse atomic.Int64
	// setup holds until the first request that is not go-redis's own
	// set-up (HELLO, AUTH, SELECT): a failure before then wrote nothing
	// of ffdelay's. start is set when the next write begins a request.
	setup, start bool
}

func newReplyGuard(conn, tcp net.Conn, timeout time.Duration, gate *writeGate) *replyGuard {
	g := &replyGuard{Conn: conn, tcp: tcp, timeout: timeout, gate: gate, setup: true, start: true}
	g.touch()
	return g
}

func (g *replyGuard) Write(b []byte) (int, error) {
	first := g.start
	if first {
		g.start = false
		name := requestCommand(b)
		if g.setup && !commandIn(name, setupCommands) {
			g.setup = false
		}
		if !g.setup && commandIn(name, writeCommands) {
			if err := g.gate.check(); err != nil {
				return 0, notWritten(&withheldError{err: err})
			}
		}
	}
	g.scan.reset()
	n, err := g.Conn.Write(b)
	g.touch()
	if err != nil && (g.setup || (first && n == 0)) {
		// Nothing of this request reached the socket (or it was the
		// connection's set-up): the server never saw it.
		err = notWritten(err)
	}
	return n, err
}

func (g *replyGuard) Read(b []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.Conn.Read(b)
	g.touch()
	if n > 0 {
		g.start = true
		if serr := g.scan.feed(b[:n]); serr != nil {
			g.err = serr
			// Nothing of the offending bytes reaches the parser.
			return 0, serr
		}
	}
	if err != nil && g.setup {
		// A set-up reply lost (HELLO's, say): no request of ffdelay's
		// was written on this connection.
		err = notWritten(err)
	}
	return n, err
}

// respScanner is an incremental RESP2/RESP3 header checker. It keeps only
// the current line (bounded), the bulk bytes left to skip and a stack of
// the open aggregates.
type respScanner struct {
	line  []byte
	skip  int64   // bulk payload bytes (with CRLF) still to pass
	stack []frame // open aggregates, innermost last
	// pendTop counts the attributes read at the top level that wait for
	// the element they annotate.
	pendTop int
	// depth is go-redis's recursion depth: open aggregates plus waiting
	// attributes (go-redis reads an attribute, drops it and reads the
	// element in a nested call).
	depth    int
	read     int64 // bytes since the last write
	declared int64 // elements declared since the last write
}

// frame is one open aggregate: the elements it still expects, whether it is
// an attribute (which annotates the next element instead of being one), and
// the attributes inside it that wait for their element.
type frame struct {
	left int64
	attr bool
	pend int
}

func (s *respScanner) reset() {
	s.read, s.declared = 0, 0
}

func (s *respScanner) feed(b []byte) error {
	s.read += int64(len(b))
	if s.read > maxReplySize {
		return fmt.Errorf("%w: more than %d MiB in one reply", errReplyTooLarge, maxReplySize>>20)
	}
	for len(b) > 0 {
		if s.skip > 0 {
			n := min(s.skip, int64(len(b)))
			s.skip -= n
			b = b[n:]
			if s.skip == 0 {
				if err := s.done(); err != nil {
					return err
				}
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(s.line)+len(b) > maxLineLen {
				return fmt.Errorf("%w: a line longer than %d KiB", errReplyTooLarge, maxLineLen>>10)
			}
			s.line = append(s.line, b...)
			return nil
		}
		if len(s.line)+i > maxLineLen {
			return fmt.Errorf("%w: a line longer than %d KiB", errReplyTooLarge, maxLineLen>>10)
		}
		// A line inside this chunk is read where it is; only one split
		// across reads is copied.
		line := b[:i]
		if len(s.line) > 0 {
			s.line = append(s.line, line...)
			line = s.line
			s.line = s.line[:0]
		}
		b = b[i+1:]
		if err := s.header(line); err != nil {
			return err
		}
	}
	return nil
}

// headerLen reads a header's length as go-redis does (strconv's rules: an
// optional sign, decimal digits); ok is false when it is malformed. Short
// numbers are read in place, without a string copy.
func headerLen(b []byte) (int64, bool) {
	neg := false
	digits := b
	if len(digits) > 0 && (digits[0] == '-' || digits[0] == '+') {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// header handles one complete line (without its '\n').
func (s *respScanner) header(line []byte) error {
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) == 0 {
		return nil
	}
	switch line[0] {
	case '$', '=', '!': // bulk string, verbatim string, bulk error
		n, ok := headerLen(line[1:])
		if !ok || n < -1 {
			return nil // go-redis reports the malformed header itself
		}
		if n > maxBulkLen {
			return fmt.Errorf("%w: a string of %d bytes declared", errReplyTooLarge, n)
		}
		if n >= 0 {
			s.skip = n + 2
			return nil
		}
		return s.done()
	case '*', '%', '~', '>', '|': // array, map, set, push, attribute
		n, ok := headerLen(line[1:])
		if !ok || n < -1 {
			return nil
		}
		attr := line[0] == '|'
		if line[0] == '%' || attr {
			n = min(n, maxDeclared+1) * 2
		}
		s.declared += max(n, 0)
		if s.declared > maxDeclared {
			return fmt.Errorf("%w: more than %d elements declared in one reply", errReplyTooLarge, maxDeclared)
		}
		if n <= 0 {
			if attr {
				return s.attrDone()
			}
			return s.done()
		}
		if s.depth++; s.depth > maxDepth {
			return fmt.Errorf("%w: nested more than %d deep", errReplyTooLarge, maxDepth)
		}
		s.stack = append(s.stack, frame{left: n, attr: attr})
	default: // simple string, error, integer, null, boolean, double, big number
		return s.done()
	}
	return nil
}

// attrDone notes an attribute that is complete: it waits, a level deeper
// in go-redis, for the element it annotates.
func (s *respScanner) attrDone() error {
	if len(s.stack) == 0 {
		s.pendTop++
	} else {
		s.stack[len(s.stack)-1].pend++
	}
	if s.depth++; s.depth > maxDepth {
		return fmt.Errorf("%w: nested more than %d deep", errReplyTooLarge, maxDepth)
	}
	return nil
}

// done counts one finished element against the open aggregates: the
// attributes that waited for it are done too, and an aggregate it
// completes is an element of its parent in turn, unless it is an attribute.
func (s *respScanner) done() error {
	for {
		if len(s.stack) == 0 {
			s.depth -= s.pendTop
			s.pendTop = 0
			return nil
		}
		top := &s.stack[len(s.stack)-1]
		s.depth -= top.pend
		top.pend = 0
		top.left--
		if top.left > 0 {
			return nil
		}
		attr := top.attr
		s.stack = s.stack[:len(s.stack)-1]
		s.depth--
		if attr {
			return s.attrDone()
		}
	}
}
