package fftest

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
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

// StartScriptedFakeServer answers each command (RESP arrays of bulk
// strings, as go-redis sends them) with replies[NAME], the upper-case
// command name; a command without a reply gets replies["*"] when there is
// one, else -ERR unknown command. It plays a broken server that is
// consistent enough to be talked to.
func StartScriptedFakeServer(replies map[string]string) (*FakeServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FakeServer{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveScripted(c, replies)
		}
	}()
	return f, nil
}

func serveScripted(c net.Conn, replies map[string]string) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "*") {
			return
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		var args []string
		for i := 0; i < n; i++ {
			hdr, err := r.ReadString('\n')
			if err != nil {
				return
			}
			size, _ := strconv.Atoi(strings.TrimSpace(hdr[1:]))
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			args = append(args, string(buf[:size]))
		}
		if len(args) == 0 {
			return
		}
		reply, ok := replies[strings.ToUpper(args[0])]
		if !ok {
			reply, ok = replies["*"]
		}
		if !ok {
			reply = "-ERR unknown command '" + args[0] + "'\r\n"
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}
