package fftest

import (
	"io"
	"net"
	"time"
)

// ConnFault is what a FaultProxy does to the connections clients open
// while it is armed (SetConnFault): the faults of a connection's own life,
// before any command of the client's reaches the server. Connections open
// already are left alone.
type ConnFault struct {
	// Stall accepts and then forwards nothing either way, and answers
	// nothing: a TLS handshake or a set-up that never completes.
	Stall bool
	// Reset closes the connection at once (a handshake reset).
	Reset bool
	// CloseOnFirst closes the connection when the client's first bytes
	// (its HELLO) arrive, without forwarding them.
	CloseOnFirst bool
	// SetupReply answers every command with this error reply (without the
	// leading "-"), e.g. "WRONGPASS invalid username-password pair": a
	// server refusing HELLO and AUTH. Nothing reaches the server.
	SetupReply string
	// Delay holds the connection this long before it is forwarded as
	// usual: a slow dial or handshake.
	Delay time.Duration
}

// SetConnFault arms f for the connections opened from now on; nil disarms.
func (p *FaultProxy) SetConnFault(f *ConnFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connFault = f
}

// faultConn applies f to a connection just accepted.
func (p *FaultProxy) faultConn(c net.Conn, f ConnFault) {
	if f.Reset {
		c.Close()
		return
	}
	reading := make(chan struct{})
	p.mu.Lock()
	p.conns[c] = reading
	p.mu.Unlock()
	if f.Delay == 0 {
		defer close(reading)
	} else {
		// connect registers the connection again, with its own reader.
		close(reading)
	}
	switch {
	case f.Stall:
		io.Copy(io.Discard, c)
		c.Close()
	case f.CloseOnFirst:
		var b [1]byte
		c.Read(b[:])
		c.Close()
	case f.SetupReply != "":
		var scan commandScanner
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			for range scan.feed(buf[:n]) {
				if _, err := c.Write([]byte("-" + f.SetupReply + "\r\n")); err != nil {
					c.Close()
					return
				}
			}
			if err != nil {
				c.Close()
				return
			}
		}
	default:
		time.Sleep(f.Delay)
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		p.connect(c)
	}
}
