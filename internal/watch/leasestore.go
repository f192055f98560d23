package watch

import (
	"crypto/rand"
	"fmt"
	"os"
	"sync"

	"github.com/flowfabric/ffdelay/redisops"
)

// LeaseConn is the lease's own connection, made again when the loop
// switches to cluster mode. The zero value is not ready: use NewLeaseConn.
type LeaseConn struct {
	mu     sync.Mutex
	conn   redisops.Options
	client *redisops.Client
}

// Use switches to conn (cluster mode found by the loop).
func (l *LeaseConn) Use(conn redisops.Options) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = conn
}

// Store is the lease's store on the current connection.
func (l *LeaseConn) Store() LeaseStore {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil && l.client.IsCluster() != l.conn.Cluster {
		l.client.Close()
		l.client = nil
	}
	if l.client == nil {
		l.client = redisops.New(l.conn)
	}
	return l.client
}

// Close closes the connection.
func (l *LeaseConn) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil {
		l.client.Close()
	}
}

// LeaseToken names this replica in the lease key: host, process and a
// random part, so two replicas never share one.
func LeaseToken() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s:%d:%x", host, os.Getpid(), b)
}

// NewLeaseConn makes the lease's connection to conn when first used.
func NewLeaseConn(conn redisops.Options) *LeaseConn { return &LeaseConn{conn: conn} }
