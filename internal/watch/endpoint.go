package watch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/flowfabric/ffdelay/internal/metrics"
	"github.com/flowfabric/ffdelay/output"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Limits of the endpoint, so that whatever clients do (thousands of idle
// keep-alive connections, a slow header) its memory stays bounded.
const (
	maxConns          = 64
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
)

// endpoint serves a watch loop's metrics and health on --listen.
type endpoint struct {
	metrics *metrics.StandbyMetrics
	srv     *http.Server
	ln      net.Listener
	served  chan error
	live    func() (bool, string)
	ready   func() (bool, string)
}

// ErrListen is a --listen address that cannot be bound (a usage error).
type ErrListen struct {
	Addr string
	Err  error
}

func (e *ErrListen) Error() string { return e.Addr + ": " + e.Err.Error() }
func (e *ErrListen) Unwrap() error { return e.Err }

// startEndpoint binds addr (and only addr) before the loop starts, so a
// port that is taken is a usage error, not a loop without its endpoint.
func startEndpoint(addr string, metrics *metrics.StandbyMetrics, live, ready func() (bool, string)) (*endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &ErrListen{Addr: addr, Err: err}
	}
	e := &endpoint{metrics: metrics, ln: netutil.LimitListener(ln, maxConns), served: make(chan error, 1), live: live, ready: ready}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{Timeout: writeTimeout / 2}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { answer(w, e.live) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { answer(w, e.ready) })
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10}
	go func() { e.served <- e.srv.Serve(e.ln) }()
	return e, nil
}

// answer writes 200 "ok", or 503 with the one-line reason.
func answer(w http.ResponseWriter, check func() (bool, string)) {
	ok, reason := check()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(output.Safe(reason) + "\n"))
		return
	}
	w.Write([]byte("ok\n"))
}

// Addr is the address the endpoint listens on (the port chosen for :0).
func (e *endpoint) Addr() string { return e.ln.Addr().String() }

// close stops serving; requests in flight get a few seconds. It returns
// the error that ended serving early, if any.
func (e *endpoint) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	shutdownErr := e.srv.Shutdown(ctx)
	if err := <-e.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return shutdownErr
}

// state is a reason-carrying flag read by the endpoint's handlers while
// the loop and the probe write it.
type state struct {
	mu     sync.Mutex
	ok     bool
	reason string
	at     time.Time
}

func (s *state) set(ok bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ok, s.reason, s.at = ok, reason, time.Now()
}

func (s *state) get() (bool, string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok, s.reason, s.at
}
