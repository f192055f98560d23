package fftest

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// FCallFault is a fault a FaultProxy applies to the calls of
// ff_promote_delayed that clients send through it (Command "" or "fcall"),
// or to the EXECs of transactions that queued one (Command "exec": a
// repair), counted across its connections: the first After pass; the next
// one is replaced or cut. Other FCALLs and EXECs (the permission probe's)
// pass untouched and uncounted.
type FCallFault struct {
	Command string
	After   int
	// Reply, when set, is an error reply ("LOADING ...", "MOVED 12 h:p",
	// "NOPERM ..."): the proxy sends the server, in the FCALL's place, a
	// script that answers with it, so the function does not run and the
	// reply keeps its place among the pipeline's replies.
	Reply string
	// Cut forwards that command, then nothing more of its connection: no
	// further reply reaches the client, and once the server has answered
	// what it got, the connection is closed. The command and the ones
	// before it ran; the replies not yet delivered are lost.
	Cut bool
}

// fcallFault is an armed FCallFault and how many FCALLs it has let pass.
type fcallFault struct {
	FCallFault
	passed int
	fired  bool
}

// OnCommand has f called with every whole command a client sends (its
// name, lower case, and its second element), before the proxy forwards it:
// a test can look at the server just as the command reaches it.
func (p *FaultProxy) OnCommand(f func(name, arg string)) {
	p.mu.Lock()
	p.onCommand = f
	p.mu.Unlock()
}

// FaultFCall arms f; it fires once.
func (p *FaultProxy) FaultFCall(f FCallFault) {
	p.mu.Lock()
	p.fcall = &fcallFault{FCallFault: f}
	p.mu.Unlock()
}

// FCallFaultFired reports whether the armed fault has fired.
func (p *FaultProxy) FCallFaultFired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fcall != nil && p.fcall.fired
}

// proxyConn is the state a connection's two directions share.
type proxyConn struct {
	c, s net.Conn
	// muted drops every reply from the server from then on.
	muted atomic.Bool
	// lastReply is when the server last sent something (UnixNano).
	lastReply atomic.Int64
	// scan holds the client's bytes not yet forwarded while a fault is
	// armed: whole commands are forwarded one by one.
	scan commandScanner
	// txPromotes: the transaction open on the connection has queued a
	// call of ff_promote_delayed.
	txPromotes bool
}

// forward sends a client chunk on to the server, applying the armed FCALL
// fault to whole commands. It returns false once the connection is cut.
func (p *FaultProxy) forward(pc *proxyConn, chunk []byte) bool {
	p.mu.Lock()
	armed := p.fcall != nil && !p.fcall.fired || p.onCommand != nil
	onCommand := p.onCommand
	p.mu.Unlock()
	if !armed && len(pc.scan.buf) == 0 {
		_, err := pc.s.Write(chunk)
		return err == nil
	}
	pc.scan.buf = append(pc.scan.buf, chunk...)
	for {
		name, n := parseCommand(pc.scan.buf)
		if n == 0 {
			return true
		}
		cmd := pc.scan.buf[:n]
		out := cmd
		if onCommand != nil {
			onCommand(name, secondArg(cmd))
		}
		promotes := name == "fcall" && strings.EqualFold(secondArg(cmd), "ff_promote_delayed")
		switch name {
		case "multi":
			pc.txPromotes = false
		case "fcall":
			pc.txPromotes = pc.txPromotes || promotes
		}
		if p.faulted(name, promotes || name == "exec" && pc.txPromotes) {
			switch f := p.takeFCall(); {
			case f == nil:
			case f.Cut:
				// The quiet wait starts now: the connection may have been
				// idle for longer than it lasts.
				pc.lastReply.Store(time.Now().UnixNano())
				pc.muted.Store(true)
				pc.s.Write(cmd)
				go p.cutWhenQuiet(pc)
				return false
			default:
				out = respCommand("EVAL", "return redis.error_reply(ARGV[1])", "0", f.Reply)
			}
		}
		if _, err := pc.s.Write(out); err != nil {
			return false
		}
		pc.scan.buf = pc.scan.buf[n:]
	}
}

// faulted reports a command the armed fault applies to: a call of
// ff_promote_delayed, or the EXEC of a transaction holding one (promotes).
func (p *FaultProxy) faulted(name string, promotes bool) bool {
	if !promotes {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fcall == nil {
		return false
	}
	want := p.fcall.Command
	if want == "" {
		want = "fcall"
	}
	return name == want
}

// secondArg is a RESP command's second element ("" when it has none).
func secondArg(cmd []byte) string {
	// *N\r\n$len\r\nname\r\n$len\r\narg\r\n
	parts := bytes.SplitN(cmd, []byte("\r\n"), 6)
	if len(parts) < 6 {
		return ""
	}
	return string(parts[4])
}

// takeFCall counts one FCALL and returns the fault when it fires on it.
func (p *FaultProxy) takeFCall() *fcallFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fcall
	if f == nil || f.fired {
		return nil
	}
	if f.passed < f.After {
		f.passed++
		return nil
	}
	f.fired = true
	return f
}

// cutWhenQuiet closes a connection once its server has sent nothing for a
// while: every command forwarded has run by then.
func (p *FaultProxy) cutWhenQuiet(pc *proxyConn) {
	const quiet = 300 * time.Millisecond
	for time.Since(time.Unix(0, pc.lastReply.Load())) < quiet {
		time.Sleep(quiet / 3)
	}
	pc.c.Close()
	pc.s.Close()
}

// respCommand encodes a command as a RESP array of bulk strings.
func respCommand(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}
