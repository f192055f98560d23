package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// latencyProxy forwards TCP connections to a server and delays every chunk
// the server sends back by a fixed latency (emulating a cross-zone link):
// pipelined replies still arrive together, so round trips show and
// throughput does not. It counts round trips: a client write that follows
// a delivered reply starts a new one.
type latencyProxy struct {
	ln         net.Listener
	target     string
	latency    time.Duration
	roundTrips atomic.Int64
	mu         sync.Mutex
	conns      []net.Conn
}

func newLatencyProxy(target string, latency time.Duration) (*latencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &latencyProxy{ln: ln, target: target, latency: latency}
	go p.accept()
	return p, nil
}

func (p *latencyProxy) Addr() string { return p.ln.Addr().String() }

func (p *latencyProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		var replied atomic.Bool
		replied.Store(true)
		go p.requests(c, s, &replied)
		go p.delayed(c, s, &replied)
	}
}

type chunk struct {
	at   time.Time
	data []byte
}

// requests copies client -> server, counting round trips.
func (p *latencyProxy) requests(c, s net.Conn, replied *atomic.Bool) {
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if replied.Swap(false) {
				p.roundTrips.Add(1)
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// delayed copies server -> client, each chunk held back by the latency.
func (p *latencyProxy) delayed(c, s net.Conn, replied *atomic.Bool) {
	q := make(chan chunk, 1024)
	go func() {
		for ch := range q {
			time.Sleep(time.Until(ch.at))
			if _, err := c.Write(ch.data); err != nil {
				break
			}
			replied.Store(true)
		}
		c.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			q <- chunk{time.Now().Add(p.latency), append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			close(q)
			return
		}
	}
}

func (p *latencyProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}
