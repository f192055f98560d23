package fftest

import (
	"net"
	"sync"
)

// FakeServer is a TCP peer that is not a real Redis/Valkey server: it
// answers whatever it reads with Reply (an HTTP error page, or a hostile
// RESP reply), to test how ffdelay treats a port that lies.
type FakeServer struct {
	ln    net.Listener
	reply []byte
	// filler, when set, is sent after reply for as long as the client
	// reads (an endless simple string, say).
	filler []byte
	wg     sync.WaitGroup
}

// StartFakeServer listens on a random loopback port.
func StartFakeServer(reply []byte) (*FakeServer, error) {
	return startFake(reply, nil)
}

func startFake(reply, filler []byte) (*FakeServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FakeServer{ln: ln, reply: reply, filler: filler}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// StartStreamingFakeServer answers the first read of each connection with
// prefix, then sends filler forever.
func StartStreamingFakeServer(prefix, filler []byte) (*FakeServer, error) {
	return startFake(prefix, filler)
}

// Addr is host:port.
func (f *FakeServer) Addr() string { return f.ln.Addr().String() }

func (f *FakeServer) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				if _, err := c.Write(f.reply); err != nil {
					return
				}
				for f.filler != nil {
					if _, err := c.Write(f.filler); err != nil {
						return
					}
				}
			}
		}()
	}
}

// Close stops listening.
func (f *FakeServer) Close() {
	f.ln.Close()
	f.wg.Wait()
}
