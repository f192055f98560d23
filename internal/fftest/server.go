// Package fftest is ffdelay's test harness: it starts real redis-server
// processes (standalone, cluster, TLS) on random loopback ports with
// persistence off, loads the fixture flowfabric library, and seeds
// executions exactly as FlowFabric writes them. Tests, the demo and the
// benchmarks share it; the ffdelay binary never links it.
package fftest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running server process.
type Server struct {
	Addr   string
	Port   int
	Dir    string
	Binary Binary
	cmd    *exec.Cmd
	args   []string
	done   chan struct{}
	mu     sync.Mutex
}

// ServerOptions tune a server.
type ServerOptions struct {
	// Binary is the server build; the zero value means DefaultBinary.
	Binary Binary
	// Args are extra redis-server arguments, e.g. "--requirepass", "x".
	Args []string
	// AOF keeps data across a restart (appendonly, fsync always).
	AOF bool
	// Cluster enables cluster mode.
	Cluster bool
	// TLS, when set, serves TLS on Port (plain port disabled).
	TLS *TLSFiles
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartServer starts redis-server in dir (a fresh temp dir when empty).
func StartServer(dir string, o ServerOptions) (*Server, error) {
	bin := o.Binary
	if bin.Server == "" {
		var err error
		if bin, err = DefaultBinary(); err != nil {
			return nil, err
		}
	}
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ffdelay-redis-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir,
			"--daemonize", "no", "--protected-mode", "no", "--enable-debug-command", "local", "--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log")}
		if o.AOF {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
		if o.Cluster {
			args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "2000")
		}
		if o.TLS != nil {
			args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port), "--tls-cert-file", o.TLS.ServerCert,
				"--tls-key-file", o.TLS.ServerKey, "--tls-ca-cert-file", o.TLS.CA, "--tls-auth-clients", "optional")
			if o.TLS.RequireClientCert {
				args[len(args)-1] = "yes"
			}
		}
		args = append(args, o.Args...)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, Binary: bin, args: args}
		if err := s.start(); err != nil {
			return nil, err
		}
		if err := s.waitUp(o.TLS != nil); err != nil {
			s.Stop()
			lastErr = err
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("%s did not start: %v", bin.Name(), lastErr)
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = exec.Command(s.Binary.Server, s.args...)
	s.cmd.Dir = s.Dir
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	return nil
}

func (s *Server) waitUp(tlsOnly bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited at start: %s", s.Binary.Name(), s.LogTail())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			if tlsOnly {
				c.Close()
				return nil
			}
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s on %s did not answer in 10s: %s", s.Binary.Name(), s.Addr, s.LogTail())
}

// LogTail returns the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 800 {
		b = b[len(b)-800:]
	}
	return strings.TrimSpace(string(b))
}

// Stop kills the server and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart stops the server and starts it again on the same port and dir.
func (s *Server) Restart() error {
	s.Stop()
	if err := s.start(); err != nil {
		return err
	}
	return s.waitUp(false)
}

// Client returns a go-redis client for the server (test use only).
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, DisableIdentity: true, PoolSize: 4})
}

// EnableAOF turns on the append-only file at run time (so data and the
// function library survive Restart) and waits for the first rewrite.
func (s *Server) EnableAOF(ctx context.Context) error {
	c := s.Client()
	defer c.Close()
	if err := c.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
		return err
	}
	if err := c.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		return err
	}
	for i := 0; i < 200; i++ {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			return err
		}
		if strings.Contains(info, "aof_enabled:1") && strings.Contains(info, "aof_rewrite_in_progress:0") &&
			!strings.Contains(info, "aof_rewrite_scheduled:1") {
			s.mu.Lock()
			for i, a := range s.args {
				if a == "--appendonly" {
					s.args[i+1] = "yes"
				}
			}
			s.args = append(s.args, "--appendfsync", "always")
			s.mu.Unlock()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("AOF rewrite did not finish on %s", s.Addr)
}

// StartFlowFabric starts a server in dir with the fixture flowfabric
// library loaded, and returns a client for it.
func StartFlowFabric(dir string, bin Binary) (*Server, *redis.Client, error) {
	s, err := StartServer(dir, ServerOptions{Binary: bin})
	if err != nil {
		return nil, nil, err
	}
	c := s.Client()
	if err := LoadLibrary(context.Background(), c, ""); err != nil {
		c.Close()
		s.Stop()
		return nil, nil, err
	}
	return s, c, nil
}

// NewFlowFabric is StartFlowFabric for a test: it fails the test when the
// server cannot start (saying how to install one) and stops the server and
// closes the client when the test ends.
func NewFlowFabric(t testing.TB, bin Binary) (*Server, *redis.Client) {
	t.Helper()
	s, c, err := StartFlowFabric(t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	t.Cleanup(func() { c.Close() })
	return s, c
}
