package redisops

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// A connection's own life decides what ffdelay may say about a call: a
// call whose request never left ffdelay was not sent, whatever went wrong
// (a dial, a TLS handshake, HELLO, AUTH or SELECT refused or unanswered, a
// connection found dead before the write); only a call whose request was
// written and whose reply was lost is unconfirmed. The reply guard sees
// every byte a connection writes and reads, so it is where that is known.

// notWrittenError marks a failure that came before any byte of a request
// was written: the server never saw the command (FateOf: NotRun). It keeps
// the cause's kind and message: errors.Is and errors.As see through it. It
// has no Unwrap on purpose: go-redis unwraps one level of a connection's
// set-up error before it returns it, which would drop the mark.
type notWrittenError struct{ err error }

func (e *notWrittenError) Error() string        { return e.err.Error() }
func (e *notWrittenError) Is(target error) bool { return errors.Is(e.err, target) }
func (e *notWrittenError) As(target any) bool   { return errors.As(e.err, target) }

// notWritten marks err as a failure before any write; nil stays nil.
func notWritten(err error) error {
	if err == nil {
		return nil
	}
	var nw *notWrittenError
	if errors.As(err, &nw) {
		return err
	}
	return &notWrittenError{err: err}
}

// isNotWritten reports a failure that came before the request was written.
func isNotWritten(err error) bool {
	var nw *notWrittenError
	return errors.As(err, &nw)
}

// withheldError is a request the write gate held back (a standby that no
// longer holds its lease): nothing was written, and nothing is reported for
// it; the run stops with the gate's own error.
type withheldError struct{ err error }

func (e *withheldError) Error() string { return e.err.Error() }
func (e *withheldError) Unwrap() error { return e.err }

// withheld returns the gate's own error when err is a request the write gate
// held back, nil otherwise.
func withheld(err error) error {
	var we *withheldError
	if errors.As(err, &we) {
		return we.err
	}
	return nil
}

// writeGate is asked right before the first byte of a request that writes
// goes on the wire, with the connection in hand and set up: a dial, a
// handshake or a wait for a pooled connection can no longer come between
// the question and the write. Every connection of a Client shares its gate.
type writeGate struct {
	f atomic.Pointer[func() error]
	// closing is set when the client closes: go-redis checks its idle
	// connections then too, and a PING each (up to --timeout apiece on a
	// server that hangs) would only delay the exit.
	closing atomic.Bool
}

func (g *writeGate) check() error {
	if g == nil {
		return nil
	}
	if f := g.f.Load(); f != nil {
		return (*f)()
	}
	return nil
}

// SetWriteGate makes every request that writes (FCALL, MULTI, and the
// commands a repair queues) ask f right before it is written; an error
// holds the request back unsent. nil removes the gate. A standby holding a
// lease sets it to the lease's check, so the margin between the question
// and the write is the time the write takes, not a dial or a handshake.
func (c *Client) SetWriteGate(f func() error) {
	if f == nil {
		c.gate.f.Store(nil)
		return
	}
	c.gate.f.Store(&f)
}

// writeCommands are the commands whose requests the gate is asked about:
// ffdelay's writes (the function, a repair's transaction and what it
// queues). Reads and WATCH go out ungated.
var writeCommands = [][]byte{[]byte("FCALL"), []byte("MULTI"), []byte("EXEC"), []byte("HSET"), []byte("ZADD"), []byte("ZREM")}

// setupCommands are what go-redis sends to set a connection up, before any
// of ffdelay's own requests.
var setupCommands = [][]byte{[]byte("HELLO"), []byte("AUTH"), []byte("SELECT"), []byte("CLIENT"), []byte("READONLY")}

// requestCommand is the name of the first command of a request in RESP
// ("*N\r\n$L\r\nNAME\r\n..."), nil when b does not start like one.
func requestCommand(b []byte) []byte {
	if len(b) == 0 || b[0] != '*' {
		return nil
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 || i+1 >= len(b) || b[i+1] != '$' {
		return nil
	}
	b = b[i+1:]
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		return nil
	}
	n, ok := headerLen(bytes.TrimSuffix(b[1:j], []byte("\r")))
	if !ok || n <= 0 || n > 32 || int64(len(b)) < int64(j+1)+n {
		return nil
	}
	return b[j+1 : int64(j+1)+n]
}

func commandIn(name []byte, list [][]byte) bool {
	for _, c := range list {
		if bytes.EqualFold(name, c) {
			return true
		}
	}
	return false
}

// probeAfterIdle is how long a connection may sit unused before it is
// checked with a PING when it is taken from the pool. A server closes an
// idle client after `timeout` seconds (at least one); a proxy, a load
// balancer or a NAT may drop one without a word. Below it a connection is
// trusted as it is (HikariCP's alive-bypass window is the same half
// second); above it one round trip proves it alive, and resets the
// server's idle clock, before a write goes on it.
const probeAfterIdle = 500 * time.Millisecond

// pingRequest is PING in RESP.
var pingRequest = []byte("*1\r\n$4\r\nPING\r\n")

// errProbeReply is a PING answered with something that is not one line.
var errProbeReply = errors.New("the idle-connection check got a reply that is not PING's")

// SyscallConn lets go-redis check a pooled connection before it hands it
// out: the check peeks the socket for a close or stray bytes, and this
// guard first PINGs a connection that sat idle past probeAfterIdle. A
// connection that fails is closed and another one dialed, so no request
// (and no FCALL) is ever written on a connection the server or a proxy
// already closed.
func (g *replyGuard) SyscallConn() (syscall.RawConn, error) {
	sc, ok := g.tcp.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no file descriptor", g.tcp)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return probingRawConn{g: g, raw: raw}, nil
}

// probingRawConn is the socket as go-redis's pool check sees it: its Read
// (the check's peek) runs after the idle probe.
type probingRawConn struct {
	g   *replyGuard
	raw syscall.RawConn
}

func (p probingRawConn) Control(f func(fd uintptr)) error { return p.raw.Control(f) }
func (p probingRawConn) Write(f func(fd uintptr) bool) error {
	return p.raw.Write(f)
}

func (p probingRawConn) Read(f func(fd uintptr) bool) error {
	if err := p.g.probeIfIdle(); err != nil {
		return err
	}
	return p.raw.Read(f)
}

// probeIfIdle PINGs a connection unused for probeAfterIdle, bounded by the
// request timeout. Any line back means the server is there (an ACL that
// refuses PING answers too); nothing, or a broken stream, fails the check.
func (g *replyGuard) probeIfIdle() error {
	if time.Since(time.Unix(0, g.lastUse.Load())) < probeAfterIdle || (g.gate != nil && g.gate.closing.Load()) {
		return nil
	}
	if err := g.Conn.SetDeadline(time.Now().Add(g.timeout)); err != nil {
		return err
	}
	defer g.Conn.SetDeadline(time.Time{})
	if _, err := g.Conn.Write(pingRequest); err != nil {
		return err
	}
	var buf [128]byte
	n := 0
	for {
		m, err := g.Conn.Read(buf[n:])
		n += m
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			if i != n-1 || (buf[0] != '+' && buf[0] != '-') {
				return errProbeReply
			}
			break
		}
		if err != nil {
			return err
		}
		if n == len(buf) {
			return errProbeReply
		}
	}
	g.touch()
	return nil
}

// touch records a use of the connection.
func (g *replyGuard) touch() { g.lastUse.Store(time.Now().UnixNano()) }

var _ net.Conn = (*replyGuard)(nil)
