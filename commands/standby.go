package commands

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/output"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// standby serves a watch loop's metrics and health on --listen:
// /metrics (Prometheus), /healthz (the loop runs) and /readyz (the last
// cycle reached the server and the library).
type standby struct {
	metrics *output.StandbyMetrics
	srv     *http.Server
	ln      net.Listener
	served  chan error

	mu     sync.Mutex
	ready  bool
	reason string
}

// startStandby binds addr (and only addr) before the loop starts, so a port
// that is taken is a usage error, not a loop without its endpoint.
func startStandby(addr string, perPartition bool) (*standby, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError("--listen %s: %v (is the port taken?)", addr, err)
	}
	s := &standby{metrics: output.NewStandbyMetrics(perPartition), ln: ln, served: make(chan error, 1),
		reason: "no cycle has run yet"}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ready, reason := s.ready, s.reason
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(output.Safe(reason) + "\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the endpoint listens on (the port chosen for :0).
func (s *standby) Addr() string { return s.ln.Addr().String() }

// cycle records a finished cycle: metrics, and readiness with the reason
// when it failed to reach the server or the library.
func (s *standby) cycle(c output.Cycle, err error, stuck int) {
	ok := err == nil
	s.metrics.Cycle(c, ok, stuck)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = ok
	if err != nil {
		s.reason = err.Error()
	}
}

// close stops serving; requests in flight get a few seconds.
func (s *standby) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return
	}
}
