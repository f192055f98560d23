package fftest

import (
	"bytes"
	"strconv"
	"strings"
)

// ProxyEvent is one chunk through a FaultProxy that records: the commands
// a client sent (their names, lower case, in order) or a reply delivered
// to it. Seq orders events across connections.
type ProxyEvent struct {
	Seq  int
	Conn int
	// Sent holds the commands completed by a client's chunk; Reply is set
	// for a chunk of replies delivered to the client.
	Sent  []string
	Reply bool
}

// Record starts recording events (the commands of connections opened
// before it are parsed from their next chunk on).
func (p *FaultProxy) Record() {
	p.mu.Lock()
	p.recording = true
	p.mu.Unlock()
}

// Events is what was recorded so far.
func (p *FaultProxy) Events() []ProxyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ProxyEvent(nil), p.events...)
}

func (p *FaultProxy) record(e ProxyEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.recording {
		return
	}
	e.Seq = len(p.events)
	p.events = append(p.events, e)
}

// commandScanner finds complete RESP commands in a client's stream.
type commandScanner struct{ buf []byte }

// feed adds a chunk and returns the names of the commands it completed.
func (s *commandScanner) feed(chunk []byte) []string {
	s.buf = append(s.buf, chunk...)
	var names []string
	for {
		name, n := parseCommand(s.buf)
		if n == 0 {
			return names
		}
		names = append(names, name)
		s.buf = s.buf[n:]
	}
}

// parseCommand reads one RESP array of bulk strings at the start of b: its
// first element, lower case, and its length; 0 when it is incomplete.
func parseCommand(b []byte) (string, int) {
	line := func(at int, prefix byte) (int, int) {
		if at >= len(b) || b[at] != prefix {
			return 0, 0
		}
		end := bytes.Index(b[at:], []byte("\r\n"))
		if end < 0 {
			return 0, 0
		}
		n, err := strconv.Atoi(string(b[at+1 : at+end]))
		if err != nil {
			return 0, 0
		}
		return n, at + end + 2
	}
	count, at := line(0, '*')
	if at == 0 {
		return "", 0
	}
	var name string
	for i := 0; i < count; i++ {
		size, next := line(at, '$')
		if next == 0 || next+size+2 > len(b) {
			return "", 0
		}
		if i == 0 {
			name = strings.ToLower(string(b[next : next+size]))
		}
		at = next + size + 2
	}
	return name, at
}
