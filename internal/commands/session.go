package commands

import (
	"context"
	"errors"

	"github.com/flowfabric/ffdelay/internal/output"
	"github.com/flowfabric/ffdelay/internal/redisops"
)

// withClient runs fn with a client for conn. A cluster node reached without
// --cluster is worked in cluster mode, with a note (never a raw MOVED); a
// server that cannot be talked to is diagnosed: unreachable, not a
// Redis/Valkey server, or a TLS mismatch.
func withClient(ctx context.Context, conn redisops.Options, p *output.Printer, fn func(*redisops.Client) error) error {
	client := redisops.New(conn)
	err := fn(client)
	client.Close()
	if redisops.KindOf(err) == redisops.KindClusterNode && !conn.Cluster {
		p.Note("%s is a cluster node: working in cluster mode (add --cluster to say so)", client.Addr())
		conn.Cluster = true
		client = redisops.New(conn)
		err = fn(client)
		client.Close()
	}
	return explain(ctx, conn, err)
}

// explain replaces an "unreachable" error with what the probes found.
func explain(ctx context.Context, conn redisops.Options, err error) error {
	var se *redisops.ServerError
	if errors.As(err, &se) && se.Kind == redisops.KindUnreachable && ctx.Err() == nil {
		return redisops.Diagnose(ctx, conn, se.Addr, err)
	}
	return err
}
