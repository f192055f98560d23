package redisops

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// libraryName is FlowFabric's function library.
const libraryName = "flowfabric"

// NodeLibrary says what one primary has of the flowfabric library.
type NodeLibrary struct {
	Addr      string
	Loaded    bool
	Functions []string
	// Err is set when FUNCTION LIST failed on this node.
	Err error
}

// HasFunction reports whether the node's library registers name.
func (n NodeLibrary) HasFunction(name string) bool {
	for _, f := range n.Functions {
		if f == name {
			return true
		}
	}
	return false
}

// Libraries runs FUNCTION LIST LIBRARYNAME flowfabric on every primary,
// or takes the answer from a fresh snapshot.
func (c *Client) Libraries(ctx context.Context, snap *Snapshot) ([]NodeLibrary, error) {
	if snap.fresh() && snap.Libraries != nil {
		return snap.Libraries, nil
	}
	nodes, err := c.primaries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NodeLibrary, len(nodes))
	for i, n := range nodes {
		out[i].Addr = n.Options().Addr
		libs, err := n.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: libraryName}).Result()
		if err != nil {
			if kindOf(err) == KindUnreachable || kindOf(err) == KindAuth {
				return nil, c.wrap(out[i].Addr, err)
			}
			out[i].Err = c.wrap(out[i].Addr, classifyFunctionErr(err))
			continue
		}
		out[i] = nodeLibrary(out[i].Addr, libs)
	}
	return out, nil
}

func nodeLibrary(addr string, libs []redis.Library) NodeLibrary {
	n := NodeLibrary{Addr: addr}
	for _, l := range libs {
		if l.Name != libraryName {
			continue
		}
		n.Loaded = true
		for _, f := range l.Functions {
			n.Functions = append(n.Functions, f.Name)
		}
		sort.Strings(n.Functions)
	}
	return n
}

func classifyFunctionErr(err error) error {
	s := err.Error()
	if strings.Contains(strings.ToLower(s), "unknown command") {
		return &ServerError{Kind: KindNoFunctions, Err: fmt.Errorf("the server has no FUNCTION support (needs Redis >= 7.0 or Valkey): %v", err)}
	}
	return err
}

// RequireLibrary fails with KindNoLibrary unless every primary has the
// flowfabric library with ff_promote_delayed.
func (c *Client) RequireLibrary(ctx context.Context, snap *Snapshot) error {
	libs, err := c.Libraries(ctx, snap)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if l.Err != nil {
			if KindOf(l.Err) != KindOther {
				return l.Err
			}
			inner := l.Err
			var se *ServerError
			if errors.As(inner, &se) && se.Addr == l.Addr {
				inner = se.Err // one address in the message, not two
			}
			return &ServerError{Addr: l.Addr, Kind: KindNoLibrary, Err: fmt.Errorf("cannot list functions: %v", inner)}
		}
		if !l.Loaded || !l.HasFunction(PromoteFunction) {
			return &ServerError{Addr: l.Addr, Kind: KindNoLibrary,
				Err: fmt.Errorf("%s library with %s is not loaded: start ff-server once (it loads the library) or check --url", libraryName, PromoteFunction)}
		}
	}
	return nil
}

// IsClusterNode reports whether a standalone connection reached a node
// with cluster_enabled:1 (always false in cluster mode).
func (c *Client) IsClusterNode(ctx context.Context) (bool, error) {
	if c.single == nil {
		return false, nil
	}
	info, err := c.single.Info(ctx, "cluster").Result()
	if err != nil {
		return false, c.wrap(c.Addr(), err)
	}
	return strings.Contains(info, "cluster_enabled:1"), nil
}

// Options is what the client was built from.
func (c *Client) Options() Options { return c.opts }

// ServerVersion is a primary's product and version from INFO server.
type ServerVersion struct {
	Addr    string
	Product string // "redis" or "valkey"
	Version string
	Major   int
}

// Versions reads INFO server from every primary.
func (c *Client) Versions(ctx context.Context) ([]ServerVersion, error) {
	nodes, err := c.primaries(ctx)
	if err != nil {
		return nil, err
	}
	var out []ServerVersion
	for _, n := range nodes {
		info, err := n.Info(ctx, "server").Result()
		if err != nil {
			return nil, c.wrap(n.Options().Addr, err)
		}
		v := ServerVersion{Addr: n.Options().Addr, Product: "redis"}
		for _, line := range strings.Split(info, "\n") {
			k, val, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok {
				continue
			}
			switch k {
			case "redis_version":
				if v.Version == "" {
					v.Version = val
				}
			case "valkey_version":
				v.Version = val
				v.Product = "valkey"
			case "server_name":
				if val == "valkey" {
					v.Product = "valkey"
				}
			}
		}
		fmt.Sscanf(v.Version, "%d", &v.Major)
		out = append(out, v)
	}
	return out, nil
}

// FFVersion calls ff_version on one primary.
func (c *Client) FFVersion(ctx context.Context) (string, error) {
	nodes, err := c.primaries(ctx)
	if err != nil {
		return "", err
	}
	v, err := nodes[0].FCall(ctx, "ff_version", nil).Result()
	if err != nil {
		return "", c.wrap(nodes[0].Options().Addr, err)
	}
	return fmt.Sprint(v), nil
}

// ParseCommandStat finds cmd (lower case, e.g. "fcall") in an INFO
// commandstats reply and returns its calls and µs.
func ParseCommandStat(info, cmd string) (calls, usec int64) {
	prefix := "cmdstat_" + cmd + ":"
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls = n
			case "usec":
				usec = n
			}
		}
	}
	return calls, usec
}

// ffVersionReturn finds what ff_version returns in a library's code: a
// literal, or a local it names.
var (
	ffVersionReturn = regexp.MustCompile(`register_function\(\s*['"]ff_version['"]\s*,\s*function\s*\([^)]*\)\s*return\s+(?:['"](\d+)['"]|(\d+)|([A-Za-z_]\w*))`)
)

// LibraryVersion reads ff_version's value from the library's code (FUNCTION
// LIST WITHCODE), without calling it: FCALL counts as a write command, and
// `top` sends none. "" when the code does not say.
func (c *Client) LibraryVersion(ctx context.Context) (string, error) {
	nodes, err := c.primaries(ctx)
	if err != nil {
		return "", err
	}
	libs, err := nodes[0].FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: libraryName, WithCode: true}).Result()
	if err != nil {
		return "", c.wrap(nodes[0].Options().Addr, err)
	}
	for _, l := range libs {
		m := ffVersionReturn.FindStringSubmatch(l.Code)
		switch {
		case m == nil:
			continue
		case m[1] != "":
			return m[1], nil
		case m[2] != "":
			return m[2], nil
		}
		local := regexp.MustCompile(`local\s+` + regexp.QuoteMeta(m[3]) + `\s*=\s*['"]?(\d+)`).FindStringSubmatch(l.Code)
		if local != nil {
			return local[1], nil
		}
	}
	return "", nil
}
