package redisops

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Options says how to reach the server. Password is never printed.
type Options struct {
	Addrs    []string
	Cluster  bool
	Username string
	Password string
	DB       int
	TLS      *tls.Config
	Timeout  time.Duration
}

// Client is a connection to a standalone server or a cluster. All work is
// organised per partition; in a cluster each partition's commands go to the
// primary that owns its {fp:N} slot.
type Client struct {
	uc      redis.UniversalClient
	cluster *redis.ClusterClient
	single  *redis.Client
	opts    Options
	// leases are the locks this client obtained, by key, for their
	// release (lease.go).
	leases sync.Map
	// perms are what ProbePermissions found, by primary.
	perms sync.Map
	// gate is asked before every request that writes (SetWriteGate).
	gate writeGate
}

// Snapshot is what ReadRegistry also read in the same round trip on a
// standalone server: the clock and the flowfabric library. Callers hand it
// to ReadClocks and Libraries, so a whole list or promote costs a handful
// of round trips even across a slow link.
type Snapshot struct {
	ClockMs   int64
	Libraries []NodeLibrary
	at        time.Time
}

// snapshotMaxAge bounds how stale a snapshot's clock may be. A clock read a
// few milliseconds early only makes fewer entries due, never more.
const snapshotMaxAge = 250 * time.Millisecond

func (s *Snapshot) fresh() bool { return s != nil && time.Since(s.at) <= snapshotMaxAge }

// connsPerNode bounds how many connections ffdelay opens to one node: one or
// two pipelines in flight keep the server busy without starving its other
// clients.
const connsPerNode = 3

// New creates the client. It sends nothing yet: the first command
// (normally ReadRegistry) reports an unreachable server or refused
// credentials; Ping checks explicitly. opts.Timeout bounds every dial,
// read and write.
// resp is the protocol ffdelay speaks: RESP2. ffdelay subscribes to
// nothing, so RESP3's push messages bring it nothing, and with RESP3
// go-redis looks for pending pushes before every reply it reads: a tenth
// of ffdelay's CPU in a promote (profiled on 100k executions).
const resp = 2

func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	c := &Client{opts: opts}
	if opts.Cluster {
		c.cluster = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    opts.Addrs,
			Username: opts.Username,
			Password: opts.Password,
			// The guarded dialer does TCP and TLS itself and checks every
			// reply before go-redis parses it (guard.go).
			Dialer:                guardedDialer(opts.Timeout, opts.TLS, &c.gate),
			DialTimeout:           opts.Timeout,
			ReadTimeout:           opts.Timeout,
			WriteTimeout:          opts.Timeout,
			ContextTimeoutEnabled: true,
			PoolSize:              connsPerNode,
			// One dial per attempt: the callers retry (watch mode) or
			// report, and repeated dials only delay the diagnosis.
			DialerRetries: 1,
			// No server may move ffdelay's connections (and credentials)
			// elsewhere with a MOVING push.
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
			// No command is ever re-sent by the library: ffdelay sends
			// every keyed command on the connection of the primary the
			// slot map names (Shard.node, nodeForKey), where nothing is
			// retried (MaxRetries -1 reaches each node's options). The
			// cluster client itself only reads the layout, and follows no
			// redirect: after an EOF or a timeout its pipelines re-send
			// every command up to MaxRedirects times, which would run an
			// FCALL twice, and a MOVED to an address outside the slot map
			// would take the credentials there.
			MaxRedirects:    -1,
			MaxRetries:      -1,
			DisableIdentity: true,
			Protocol:        resp,
		})
		c.uc = c.cluster
	} else {
		c.single = redis.NewClient(&redis.Options{
			Addr:                     opts.Addrs[0],
			Username:                 opts.Username,
			Password:                 opts.Password,
			DB:                       opts.DB,
			Dialer:                   guardedDialer(opts.Timeout, opts.TLS, &c.gate),
			DialTimeout:              opts.Timeout,
			ReadTimeout:              opts.Timeout,
			WriteTimeout:             opts.Timeout,
			ContextTimeoutEnabled:    true,
			PoolSize:                 connsPerNode,
			DialerRetries:            1,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
			// A retried FCALL pipeline could run twice; ffdelay reports a
			// lost connection instead and lets the next run pick up.
			MaxRetries:      -1,
			DisableIdentity: true,
			Protocol:        resp,
		})
		c.uc = c.single
	}
	return c
}

// Close releases every connection.
func (c *Client) Close() error {
	c.gate.closing.Store(true)
	return c.uc.Close()
}

// Addr names the server (or the cluster seeds) for messages.
func (c *Client) Addr() string { return strings.Join(c.opts.Addrs, ",") }

// IsCluster reports whether the client runs in cluster mode.
func (c *Client) IsCluster() bool { return c.cluster != nil }

// Ping checks every primary.
func (c *Client) Ping(ctx context.Context) error {
	if c.cluster == nil {
		return c.wrap(c.single.Options().Addr, c.single.Ping(ctx).Err())
	}
	if err := c.cluster.Ping(ctx).Err(); err != nil {
		return c.wrap(c.Addr(), err)
	}
	return c.forEachPrimary(ctx, func(ctx context.Context, addr string, n *redis.Client) error {
		return c.wrap(addr, n.Ping(ctx).Err())
	})
}

// forEachPrimary runs fn on every primary, in parallel in a cluster.
func (c *Client) forEachPrimary(ctx context.Context, fn func(ctx context.Context, addr string, n *redis.Client) error) error {
	if c.cluster == nil {
		return fn(ctx, c.single.Options().Addr, c.single)
	}
	return c.cluster.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		return fn(ctx, n.Options().Addr, n)
	})
}

// PrimaryAddrs lists the address of every primary, sorted.
func (c *Client) PrimaryAddrs(ctx context.Context) ([]string, error) {
	nodes, err := c.primaries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Options().Addr
	}
	return out, nil
}

// primaries lists every primary sorted by address.
func (c *Client) primaries(ctx context.Context) ([]*redis.Client, error) {
	if c.cluster == nil {
		return []*redis.Client{c.single}, nil
	}
	// ForEachMaster calls back from one goroutine per primary; collecting
	// under a mutex works for any number of them (a fixed-size channel
	// drained afterwards would block past its capacity).
	var mu sync.Mutex
	var nodes []*redis.Client
	err := c.cluster.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, c.wrap(c.Addr(), err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Options().Addr < nodes[j].Options().Addr })
	return nodes, nil
}

// errNil reports whether err is a missing key/field reply.
func errNil(err error) bool { return errors.Is(err, redis.Nil) }

func (c *Client) wrap(addr string, err error) error {
	if err == nil || errNil(err) {
		return err
	}
	var se *ServerError
	if errors.As(err, &se) {
		return err
	}
	kind := kindOf(err)
	if kind == KindRedirect && c.cluster != nil {
		// In cluster mode a MOVED seen by a node's own connection means
		// the layout changed (a failover): not a user's mistake; the next
		// run (or watch cycle) reads the new layout.
		return &ServerError{Addr: addr, Kind: KindLayoutChanged, Err: fmt.Errorf("the cluster's layout changed (%v): the next run reads it again", err)}
	}
	if kind == KindNotRedis {
		// The peer's bytes are not repeated: they are not a reply, and
		// they may be anything.
		err = errNotRedis
	}
	return &ServerError{Addr: addr, Kind: kind, Err: err}
}

// pipeline runs a pipeline and tells a failed connection from failed
// commands. go-redis marks no command when the connection itself could not
// be set up (HELLO, AUTH or SELECT refused): their replies were never read,
// and reading them would invent empty values. Such a failure comes back as
// a ServerError that says nothing of the pipeline was written (FateOf:
// NotRun) and keeps its kind (a WRONGPASS is still an authentication
// refused); errors of single commands are left on the commands, for the
// caller to look at.
func (c *Client) pipeline(ctx context.Context, addr string, cmd redis.Cmdable, fn func(redis.Pipeliner) error) error {
	cmds, err := cmd.Pipelined(ctx, fn)
	if err == nil || errNil(err) {
		return nil
	}
	for _, x := range cmds {
		if x.Err() != nil {
			return err
		}
	}
	se := c.wrap(addr, err).(*ServerError)
	if se.Kind == KindOther {
		se.Kind = KindConnSetup
	}
	se.Err = notWritten(se.Err)
	return se
}

var errNotRedis = errors.New("not a Redis/Valkey server: the port answered, but not in the Redis protocol (check --url/--port)")

// silentLog drops go-redis's own log lines: ffdelay reports failures itself,
// once, in its own words, and stderr must stay one line per error.
type silentLog struct{}

func (silentLog) Printf(context.Context, string, ...any) {}

// SilenceLibraryLogs turns off go-redis's logger, which is global to the
// process; the binary calls it once at start.
func SilenceLibraryLogs() { redis.SetLogger(silentLog{}) }
