package commands

import (
	"context"
	"errors"

	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
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

// clientAction is the Action of a command that works on one client: set up
// the output (so errors can be JSON), parse the options, resolve the
// connection, then run with a client. parse and run are the command's own,
// so tests reach option parsing without a server.
func clientAction[O any](ctx context.Context, d *deps, parse func(*cli.Context, *deps) (O, error),
	run func(context.Context, O, *redisops.Client, *output.Printer) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := setupOutput(c, d); err != nil {
			return err
		}
		opts, err := parse(c, d)
		if err != nil {
			return err
		}
		conn, err := connOptions(c, d)
		if err != nil {
			return err
		}
		return withClient(ctx, conn, d.printer, func(client *redisops.Client) error {
			return run(ctx, opts, client, d.printer)
		})
	}
}
