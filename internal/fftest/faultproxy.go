package fftest

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// FaultProxy sits between a client and a server on loopback. It injects
// network faults (cut every open connection, refuse new ones for a while)
// and latency: every chunk the server sends is held back by the latency,
// as on a longer link (pipelined replies still arrive together, so round
// trips show and bandwidth does not). It counts round trips: a client write
// that follows a delivered reply starts a new one.
type FaultProxy struct {
	ln     net.Listener
	target string

	mu sync.Mutex
	// conns are the open connections, each with a channel closed once the
	// goroutine that reads it has returned (nil: none to wait for).
	conns       map[net.Conn]chan struct{}
	refuseUntil time.Time
	latency     time.Duration
	roundTrips  atomic.Int64
	accepted    atomic.Int64
	recording   bool
	events      []ProxyEvent
	nextConn    int
	fcall       *fcallFault
	onCommand   func(name, arg string)
	connFault   *ConnFault
}

// StartFaultProxy listens on a loopback port and forwards to target.
func StartFaultProxy(target string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{ln: ln, target: target, conns: map[net.Conn]chan struct{}{}}
	go p.accept()
	return p, nil
}

// Addr is the proxy's address.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Accepted is how many connections clients have opened so far (also the
// ones the proxy could not forward).
func (p *FaultProxy) Accepted() int64 { return p.accepted.Load() }

// RoundTrips is how many round trips clients have made so far.
func (p *FaultProxy) RoundTrips() int64 { return p.roundTrips.Load() }

// Cut closes every open connection, and returns once they are closed: a
// socket another goroutine is reading is only closed (its FIN sent) when
// that read returns, so Close alone would let a client write on a
// connection that is about to go.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]chan struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	for _, done := range conns {
		if done != nil {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// Refuse cuts every connection and closes new ones at once for d.
func (p *FaultProxy) Refuse(d time.Duration) {
	p.mu.Lock()
	p.refuseUntil = time.Now().Add(d)
	p.mu.Unlock()
	p.Cut()
}

// WaitAccepting blocks until a Refuse window has ended.
func (p *FaultProxy) WaitAccepting() {
	p.mu.Lock()
	until := p.refuseUntil
	p.mu.Unlock()
	time.Sleep(time.Until(until))
}

// SetLatency delays every reply chunk by d.
func (p *FaultProxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// Close stops the proxy and cuts everything.
func (p *FaultProxy) Close() {
	p.ln.Close()
	p.Cut()
}

func (p *FaultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		refusing := time.Now().Before(p.refuseUntil)
		fault := p.connFault
		p.mu.Unlock()
		if refusing {
			c.Close()
			continue
		}
		if fault != nil {
			go p.faultConn(c, *fault)
			continue
		}
		p.connect(c)
	}
}

// connect dials the target for a client connection and copies both ways.
func (p *FaultProxy) connect(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	reading := make(chan struct{})
	p.mu.Lock()
	p.conns[c], p.conns[s] = reading, nil
	p.nextConn++
	id := p.nextConn
	p.mu.Unlock()
	var replied atomic.Bool
	replied.Store(true)
	pc := &proxyConn{c: c, s: s}
	pc.lastReply.Store(time.Now().UnixNano())
	go func() {
		defer close(reading)
		p.requests(id, pc, &replied)
	}()
	go p.replies(id, pc, &replied)
}

// requests copies client -> server, counting round trips.
func (p *FaultProxy) requests(id int, pc *proxyConn, replied *atomic.Bool) {
	c, s := pc.c, pc.s
	cut := false
	defer func() {
		if !cut {
			s.Close()
			c.Close()
		}
	}()
	buf := make([]byte, 32<<10)
	var scan commandScanner
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if replied.Swap(false) {
				p.roundTrips.Add(1)
			}
			p.mu.Lock()
			recording := p.recording
			p.mu.Unlock()
			if recording {
				if names := scan.feed(buf[:n]); len(names) > 0 {
					// Recorded before the server can see it, so a reply
					// is never recorded ahead of its command.
					p.record(ProxyEvent{Conn: id, Sent: names})
				}
			}
			if !p.forward(pc, buf[:n]) {
				// A cut fault closes the connection itself, later.
				cut = pc.muted.Load()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

type chunk struct {
	at   time.Time
	data []byte
}

// replies copies server -> client, each chunk held back by the latency
// from the moment it was read, so latency does not add up across chunks.
func (p *FaultProxy) replies(id int, pc *proxyConn, replied *atomic.Bool) {
	c, s := pc.c, pc.s
	q := make(chan chunk, 1024)
	go func() {
		defer c.Close()
		for ch := range q {
			time.Sleep(time.Until(ch.at))
			// Recorded before the client can see it: a command recorded
			// after it may have been sent before it arrived, never the
			// other way round.
			p.record(ProxyEvent{Conn: id, Reply: true})
			if _, err := c.Write(ch.data); err != nil {
				return
			}
			replied.Store(true)
		}
	}()
	defer close(q)
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			pc.lastReply.Store(time.Now().UnixNano())
		}
		if n > 0 && pc.muted.Load() {
			continue
		}
		if n > 0 {
			p.mu.Lock()
			d := p.latency
			p.mu.Unlock()
			q <- chunk{time.Now().Add(d), append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			return
		}
	}
}
