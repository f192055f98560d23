package commands

import (
	"context"
	"errors"
	"strings"

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
		client, conn = clusterFromNode(ctx, conn, p)
		err = fn(client)
		client.Close()
	}
	return explain(ctx, conn, err)
}

// clusterFromNode is the one way ffdelay goes from a node given without
// --cluster to cluster mode: only after the node itself said
// cluster_enabled:1 (a MOVED reply is never followed, see
// redisops.KindRedirect). The cluster's layout is that node's own answer;
// the note names the primaries it named, since the credentials go to them.
func clusterFromNode(ctx context.Context, conn redisops.Options, p *output.Printer) (*redisops.Client, redisops.Options) {
	given := strings.Join(conn.Addrs, ",")
	conn.Cluster = true
	client := redisops.New(conn)
	if primaries, err := client.PrimaryAddrs(ctx); err == nil {
		p.Note("%s is a cluster node: working in cluster mode with the primaries it names: %s (add --cluster to say so)", given, strings.Join(primaries, ", "))
	} else {
		p.Note("%s is a cluster node: working in cluster mode (add --cluster to say so)", given)
	}
	return client, conn
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
