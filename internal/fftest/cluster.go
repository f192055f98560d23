package fftest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a local cluster of real server processes.
type Cluster struct {
	Nodes []*Server
	Dir   string
}

// StartCluster starts primaries (and replicas per primary) of bin (the zero
// Binary means DefaultBinary) with --cluster-enabled and joins them with
// the matching cli's --cluster create.
func StartCluster(dir string, bin Binary, primaries, replicas int) (*Cluster, error) {
	if bin.Server == "" {
		var err error
		if bin, err = DefaultBinary(); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "ffdelay-cluster-"); err != nil {
			return nil, err
		}
	}
	c := &Cluster{Dir: dir}
	total := primaries * (1 + replicas)
	for i := 0; i < total; i++ {
		nd := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		s, err := StartServer(nd, ServerOptions{Binary: bin, Cluster: true})
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command(bin.CLI, args...).CombinedOutput()
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("%s --cluster create: %v: %s", bin.CLI, err, out)
	}
	if err := c.WaitReady(20 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Seeds are the node addresses, for ffdelay's --url.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// URL is a comma-separated seed list.
func (c *Cluster) URL() string {
	var out []string
	for _, n := range c.Nodes[:min(3, len(c.Nodes))] {
		out = append(out, "redis://"+n.Addr)
	}
	return strings.Join(out, ",")
}

// WaitReady waits until every node reports cluster_state:ok and all slots.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		cl := n.Client()
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				return fmt.Errorf("cluster node %s not ready after %s: %v %s", n.Addr, timeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return nil
}

// Client is a cluster client for the tests.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Seeds(), DisableIdentity: true})
}

// ForEachPrimary runs fn on every primary.
func (c *Cluster) ForEachPrimary(ctx context.Context, fn func(*redis.Client) error) error {
	cl := c.Client()
	defer cl.Close()
	return cl.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return fn(n) })
}

// Reset empties every primary and (re)loads the fixture library on them.
func (c *Cluster) Reset(ctx context.Context) error {
	return c.ForEachPrimary(ctx, func(n *redis.Client) error {
		if err := n.FlushAll(ctx).Err(); err != nil {
			return err
		}
		n.FunctionFlush(ctx)
		return LoadLibrary(ctx, n, "")
	})
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// ProxyEveryNode puts a FaultProxy in front of every node and has each
// node announce its proxy's port, so a client that reads the layout from
// the cluster reaches every node through its proxy. It returns the
// proxies in the order of c.Nodes, once every node's CLUSTER SHARDS names
// only proxies.
func (c *Cluster) ProxyEveryNode(ctx context.Context) ([]*FaultProxy, error) {
	var proxies []*FaultProxy
	want := map[string]bool{}
	for _, n := range c.Nodes {
		p, err := StartFaultProxy(n.Addr)
		if err != nil {
			return nil, err
		}
		proxies = append(proxies, p)
		_, port, _ := strings.Cut(p.Addr(), ":")
		want[port] = true
		cl := n.Client()
		err = cl.ConfigSet(ctx, "cluster-announce-port", port).Err()
		cl.Close()
		if err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		cl := n.Client()
		for {
			shards, err := cl.ClusterShards(ctx).Result()
			proxied := err == nil && len(shards) > 0
			for _, s := range shards {
				for _, node := range s.Nodes {
					proxied = proxied && want[strconv.FormatInt(node.Port, 10)]
				}
			}
			if proxied {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				return nil, fmt.Errorf("node %s still names unproxied nodes in CLUSTER SHARDS after 20s: %v %v", n.Addr, shards, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return proxies, nil
}
