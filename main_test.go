package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/commands"
	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ffdelay": func() {
			ctx, stop := commands.SignalContext(context.Background())
			code := commands.Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr, os.Environ())
			stop()
			os.Exit(code)
		},
	})
}

// scriptState is one script's servers and what it seeded.
type scriptState struct {
	lib     fftest.Library
	client  redis.UniversalClient
	server  *fftest.Server  // standalone
	cluster *fftest.Cluster // cluster mode
	proxy   *fftest.FaultProxy
	seeded  []fftest.Exec
}

func state(ts *testscript.TestScript) *scriptState {
	return ts.Value("ff").(*scriptState)
}

// TestScripts runs every end-to-end script against its own standalone
// server, once per server of the matrix (fftest.Binaries).
func TestScripts(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		for _, dir := range []string{"testdata/script", "testdata/script/standalone"} {
			t.Run(filepath.Base(dir), func(t *testing.T) {
				testscript.Run(t, params(dir, bin, fftest.Fixture(), nil))
			})
		}
	})
}

// TestScriptsCluster runs the shared scripts against a local 3-primary
// cluster of each server, one script at a time.
func TestScriptsCluster(t *testing.T) {
	fftest.EachServer(t, func(t *testing.T, bin fftest.Binary) {
		c, err := fftest.StartCluster(t.TempDir(), bin, 3, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Stop)
		var mu sync.Mutex
		testscript.Run(t, params("testdata/script", bin, fftest.Fixture(), &clusterSlot{c: c, mu: &mu}))
	})
}

// releaseScripts are the scripts that also run against FlowFabric's real
// libraries: everything that calls or predicts ff_promote_delayed.
var releaseScripts = []string{"list", "promote", "promote_stuck", "promote_select", "watch", "inspect", "check", "repair", "audit", "unrepairable"}

// TestScriptsReleases runs the core scripts against every FlowFabric
// release's own library (fftest.Releases), on the last server of the matrix
// (CI lists the newest Valkey last). Every server runs the real-function
// states of every release (TestRealFunctionStates); running all the scripts
// 6 x 3 times over would add minutes and test the same code paths.
func TestScriptsReleases(t *testing.T) {
	libs, note, err := fftest.Releases()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		fftest.Skip(t, note)
	}
	t.Log(note)
	var files []string
	for _, name := range releaseScripts {
		files = append(files, filepath.Join("testdata/script", name+".txtar"))
	}
	bins, err := fftest.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	bin := bins[len(bins)-1]
	t.Run(bin.Name(), func(t *testing.T) {
		for _, lib := range libs {
			t.Run(lib.Name, func(t *testing.T) {
				p := params("", bin, lib, nil)
				p.Files = files
				testscript.Run(t, p)
			})
		}
	})
}

type clusterSlot struct {
	c  *fftest.Cluster
	mu *sync.Mutex
}

// params runs the scripts of dir (or p.Files) against a server of bin with
// lib loaded: a standalone server per script, or the shared cluster.
func params(dir string, bin fftest.Binary, lib fftest.Library, cl *clusterSlot) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			st := &scriptState{lib: lib}
			ctx := context.Background()
			var version string
			if cl != nil {
				cl.mu.Lock()
				env.Defer(cl.mu.Unlock)
				if err := cl.c.Reset(ctx); err != nil {
					return err
				}
				st.cluster = cl.c
				cc := cl.c.Client()
				st.client = cc
				var mu sync.Mutex
				err := cl.c.ForEachPrimary(ctx, func(n *redis.Client) error {
					v, err := lib.Load(ctx, n)
					mu.Lock()
					version = v
					mu.Unlock()
					return err
				})
				if err != nil {
					return err
				}
				env.Setenv("FFDELAY_URL", cl.c.URL())
				env.Setenv("NODE_ADDR", cl.c.Nodes[0].Addr)
				env.Setenv("FFDELAY_CLUSTER", "1")
				env.Setenv("CLUSTER", "1")
			} else {
				s, err := fftest.StartServer(filepath.Join(env.WorkDir, ".redis"), fftest.ServerOptions{Binary: bin})
				if err != nil {
					return err
				}
				env.Defer(s.Stop)
				st.server = s
				st.client = s.Client()
				if version, err = lib.Load(ctx, st.client); err != nil {
					return err
				}
				env.Setenv("FFDELAY_URL", "redis://"+s.Addr)
				env.Setenv("REDIS_ADDR", s.Addr)
				env.Setenv("NODE_ADDR", s.Addr)
				env.Setenv("REDIS_PORT", strconv.Itoa(s.Port))
				env.Setenv("CLUSTER", "0")
			}
			env.Setenv("SERVER", bin.Product+" "+bin.Version)
			env.Setenv("FF_VERSION", version)
			env.Setenv("LIBRARY", lib.Name)
			env.Defer(func() { st.client.Close() })
			env.Values["ff"] = st
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "cluster":
				return cl != nil, nil
			case "fixture":
				return !lib.Real(), nil
			case "valkey":
				return bin.Product == "valkey", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: strictVerbs(map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"ff-seed":       cmdSeed,
			"ff-partitions": cmdPartitions,
			"ff-lanes":      cmdLanes,
			"redis":         cmdRedis,
			"ff-invariant":  cmdInvariant,
			"ff-unload":     cmdUnload,
			"ff-version":    cmdVersion,
			"ffexit":        cmdExit,
			"sleep":         cmdSleep,
			"ff-wait-count": cmdWaitCount,
			"ff-server":     cmdServer,
			"ff-tls":        cmdTLS,
			"ff-auth":       cmdAuth,
			"ff-acl":        cmdACL,
			"ff-proxy":      cmdProxy,
			"ff-stall":      cmdStall,
			"ff-wait-up":    cmdWaitUp,
			"ff-stats":      cmdStats,
			"ff-fake":       cmdFake,
			"ff-json":       cmdJSON,
			"ff-slow":       cmdSlow,
		}),
	}
}

// verbRule is a custom verb's argument count (max -1: no limit) and
// whether it has a meaning under "!".
type verbRule struct {
	min, max int
	negation bool
}

var verbRules = map[string]verbRule{
	"ff-seed": {2, -1, false}, "ff-partitions": {1, 1, false}, "ff-lanes": {1, -1, false}, "redis": {1, -1, true},
	"ff-invariant": {0, 0, false}, "ff-unload": {0, 0, false}, "ff-version": {1, 1, false}, "ffexit": {2, -1, false},
	"sleep": {1, 1, false}, "ff-wait-count": {2, 3, false}, "ff-server": {1, 1, false}, "ff-tls": {0, 1, false},
	"ff-auth": {2, 2, false}, "ff-acl": {1, -1, false}, "ff-proxy": {1, 2, false}, "ff-stall": {2, 2, false},
	"ff-wait-up": {0, 0, false}, "ff-stats": {1, 3, false}, "ff-fake": {1, 1, false}, "ff-json": {0, 1, false},
	"ff-slow": {1, 1, false},
}

// strictVerbs makes every custom verb refuse a "!" it has no meaning for
// (it would pass where it should fail) and a wrong number of arguments (an
// index out of range would panic), as cmd/go's script engine does.
func strictVerbs(verbs map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	out := make(map[string]func(ts *testscript.TestScript, neg bool, args []string), len(verbs))
	for name, f := range verbs {
		rule, ok := verbRules[name]
		if !ok {
			panic("script verb " + name + " has no entry in verbRules")
		}
		out[name] = func(ts *testscript.TestScript, neg bool, args []string) {
			if neg && !rule.negation {
				ts.Fatalf("unsupported: ! %s (it has no failing form)", name)
			}
			if len(args) < rule.min || (rule.max >= 0 && len(args) > rule.max) {
				ts.Fatalf("usage: %s takes %s, got %d", name, argCount(rule), len(args))
			}
			f(ts, neg, args)
		}
	}
	return out
}

func argCount(r verbRule) string {
	switch {
	case r.max < 0:
		return fmt.Sprintf("at least %d arguments", r.min)
	case r.min == 1 && r.max == 1:
		return "1 argument"
	case r.min == r.max:
		return fmt.Sprintf("%d arguments", r.min)
	}
	return fmt.Sprintf("%d to %d arguments", r.min, r.max)
}

// ff-seed [-n N] [-lane L] [-ns NS] [-tag K=V]... [-priority P] [-offset MS]
// [-id ID] [-var NAME] [-nsq NS] PARTITION SHAPE writes N executions exactly as
// FlowFabric does; SHAPE is due, future, retry, nodelay (no delay_until),
// pasteligible (misindexed), duplicate, nocore, nonrunnable, stale,
// malformed or wrongtag; -var sets NAME to the first id; -nsq is a
// namespace with Go escapes, for control bytes.
func cmdSeed(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("ff-seed", flag.ContinueOnError)
	n := fs.Int("n", 1, "how many")
	lane := fs.String("lane", "default", "lane")
	ns := fs.String("ns", "", "namespace")
	nsq := fs.String("nsq", "", "namespace with Go escapes (\\x1b, \\r): for control bytes")
	priority := fs.Int("priority", 0, "priority")
	offset := fs.Int64("offset", 0, "delay offset from now, ms")
	id := fs.String("id", "", "explicit id")
	varName := fs.String("var", "", "env var to receive the first id")
	var tags multiFlag
	fs.Var(&tags, "tag", "K=V")
	ts.Check(fs.Parse(args))
	if fs.NArg() != 2 {
		ts.Fatalf("usage: ff-seed [flags] PARTITION SHAPE")
	}
	p, err := strconv.Atoi(fs.Arg(0))
	ts.Check(err)
	if *nsq != "" {
		*ns, err = strconv.Unquote(`"` + *nsq + `"`)
		ts.Check(err)
	}
	st := state(ts)
	ctx := context.Background()
	now, err := nowMs(ctx, st, p)
	ts.Check(err)
	var execs []fftest.Exec
	for i := 0; i < *n; i++ {
		e := fftest.Exec{Partition: p, Lane: *lane, Shape: fftest.Shape(fs.Arg(1)), Namespace: *ns, Priority: *priority, OffsetMs: *offset, ID: *id}
		if len(tags) > 0 {
			e.Tags = map[string]string{}
			for _, t := range tags {
				k, v, _ := strings.Cut(t, "=")
				e.Tags[k] = v
			}
		}
		execs = append(execs, e)
	}
	ids, err := fftest.Seed(ctx, st.client, now, execs)
	ts.Check(err)
	st.seeded = append(st.seeded, execs...)
	if *varName != "" {
		ts.Setenv(*varName, ids[0])
	}
}

func nowMs(ctx context.Context, st *scriptState, partition int) (int64, error) {
	if cc, ok := st.client.(*redis.ClusterClient); ok {
		n, err := cc.MasterForKey(ctx, fmt.Sprintf("{fp:%d}", partition))
		if err != nil {
			return 0, err
		}
		return fftest.ServerNowMs(ctx, n)
	}
	return fftest.ServerNowMs(ctx, st.client)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// ff-partitions N writes ff:config:partitions num_flow_partitions N, as
// ff-server does at first boot.
func cmdPartitions(ts *testscript.TestScript, neg bool, args []string) {
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	ts.Check(fftest.SetPartitions(context.Background(), state(ts).client, n))
}

// ff-lanes LANE... adds lanes to the ff:idx:lanes registry.
func cmdLanes(ts *testscript.TestScript, neg bool, args []string) {
	ts.Check(fftest.RegisterLanes(context.Background(), state(ts).client, args...))
}

// redis CMD ARGS... prints the reply, one array element per line.
func cmdRedis(ts *testscript.TestScript, neg bool, args []string) {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := state(ts).client.Do(context.Background(), a...).Result()
	if err == redis.Nil {
		fmt.Fprintln(ts.Stdout(), "(nil)")
		return
	}
	if neg {
		if err == nil {
			ts.Fatalf("redis %s: want an error, got %v", strings.Join(args, " "), v)
		}
		return
	}
	ts.Check(err)
	printReply(ts, v)
}

func printReply(ts *testscript.TestScript, v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			printReply(ts, e)
		}
	case map[any]any:
		for k, e := range x {
			fmt.Fprintf(ts.Stdout(), "%v=%v\n", k, e)
		}
	default:
		fmt.Fprintln(ts.Stdout(), x)
	}
}

// ff-invariant checks that every healthy seeded execution is in exactly
// one of its lane's scheduling sets, with a core that agrees.
func cmdInvariant(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	if err := fftest.CheckInvariant(context.Background(), st.client, st.seeded); err != nil {
		ts.Fatalf("invariant: %v", err)
	}
}

// ff-unload deletes the flowfabric library (on the primary of partition 0
// in a cluster) and sets UNLOADED to that node's address.
func cmdUnload(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	ctx := context.Background()
	if st.cluster != nil {
		// Only the first primary loses the library, so check can name it.
		cc := st.client.(*redis.ClusterClient)
		n, err := cc.MasterForKey(ctx, "{fp:0}")
		ts.Check(err)
		ts.Check(n.FunctionDelete(ctx, "flowfabric").Err())
		ts.Setenv("UNLOADED", n.Options().Addr)
		return
	}
	ts.Check(st.client.FunctionDelete(ctx, "flowfabric").Err())
	ts.Setenv("UNLOADED", st.server.Addr)
}

// ff-version V loads the fixture library with ff_version V (fixture
// scripts only: under a release's library use [fixture] ff-version).
func cmdVersion(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	if st.lib.Real() {
		ts.Fatalf("ff-version replaces the library with the fixture; guard it with [fixture] (library %s)", st.lib.Name)
	}
	ctx := context.Background()
	if st.cluster != nil {
		ts.Check(st.cluster.ForEachPrimary(ctx, func(n *redis.Client) error { return fftest.LoadLibrary(ctx, n, args[0]) }))
		return
	}
	ts.Check(fftest.LoadLibrary(ctx, st.client, args[0]))
}

// passEnv are the variables ffexit hands to ffdelay.
var passEnv = []string{"PATH", "HOME", "TMPDIR", "FFDELAY_URL", "FFDELAY_CLUSTER", "FF_CLUSTER", "FF_HOST", "FF_PORT", "FF_TLS",
	"FF_LANES", "FF_FLOW_PARTITIONS", "FF_DELAYED_PROMOTER_INTERVAL_MS", "FFDELAY_USER", "FFDELAY_PASSWORD", "REDISCLI_AUTH",
	"FFDELAY_OUTPUT", "NO_COLOR"}

// ffexit CODE ARGS... runs the ffdelay binary and checks its exit code;
// its stdout and stderr are then checked with stdout/stderr as usual.
func cmdExit(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: ffexit CODE [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	bin, err := lookPath(ts.Getenv("PATH"), "ffdelay")
	ts.Check(err)
	cmd := exec.Command(bin, args[1:]...)
	cmd.Dir = ts.Getenv("WORK")
	for _, k := range passEnv {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err = cmd.Run()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else {
		ts.Check(err)
	}
	if got != want {
		ts.Fatalf("ffdelay %s: exit code %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

func lookPath(path, name string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH", name)
}

// sleep D waits for a duration: only for outages a script simulates, never
// for a condition (use the ff-wait-* verbs and ff-stats wait).
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// ff-wait-count KEY N [atleast] waits up to 15s for ZCARD KEY to equal
// (or reach) N.
func cmdWaitCount(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	atLeast := len(args) > 2 && args[2] == "atleast"
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		got, _ = state(ts).client.ZCard(ctx, args[0]).Result()
		if got == want || atLeast && got >= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("ZCARD %s is %d after 15s, want %d", args[0], got, want)
}

// ff-server stop|start|restart|aof controls the standalone server.
func cmdServer(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	if st.server == nil {
		ts.Fatalf("ff-server needs a standalone server")
	}
	switch args[0] {
	case "stop":
		st.server.Stop()
	case "start", "restart":
		ts.Check(st.server.Restart())
	case "aof":
		ts.Check(st.server.EnableAOF(context.Background()))
	default:
		ts.Fatalf("usage: ff-server stop|start|restart|aof")
	}
}

// ff-tls [require-client-cert] starts a TLS-only server with the fixture
// library and 3 due executions on partition 0, and sets TLS_URL, TLS_CA,
// TLS_OTHER_CA, TLS_CERT and TLS_KEY.
func cmdTLS(ts *testscript.TestScript, neg bool, args []string) {
	dir := ts.MkAbs(".tls")
	ts.Check(os.MkdirAll(dir, 0o755))
	files, err := fftest.GenerateTLS(dir)
	ts.Check(err)
	files.RequireClientCert = len(args) > 0 && args[0] == "require-client-cert"
	s, err := fftest.StartServer(filepath.Join(dir, "data"), fftest.ServerOptions{Binary: state(ts).server.Binary, TLS: files})
	ts.Check(err)
	ts.Defer(s.Stop)
	c, err := fftest.TLSClient(s.Addr, files)
	ts.Check(err)
	defer c.Close()
	ctx := context.Background()
	ts.Check(fftest.LoadLibrary(ctx, c, ""))
	ts.Check(fftest.SetPartitions(ctx, c, 4))
	now, err := fftest.ServerNowMs(ctx, c)
	ts.Check(err)
	_, err = fftest.Seed(ctx, c, now, []fftest.Exec{{Partition: 0, Shape: fftest.Due}, {Partition: 0, Shape: fftest.Due}, {Partition: 0, Shape: fftest.Due}})
	ts.Check(err)
	ts.Setenv("TLS_URL", "rediss://"+s.Addr)
	ts.Setenv("TLS_PORT", strconv.Itoa(s.Port))
	ts.Setenv("TLS_CA", files.CA)
	ts.Setenv("TLS_OTHER_CA", files.OtherCA)
	ts.Setenv("TLS_CERT", files.ClientCert)
	ts.Setenv("TLS_KEY", files.ClientKey)
}

// ff-auth USER PASSWORD makes the harness's own client log in (after the
// script set requirepass).
func cmdAuth(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	if st.server == nil {
		ts.Fatalf("ff-auth needs a standalone server")
	}
	st.client.Close()
	st.client = redis.NewClient(&redis.Options{Addr: st.server.Addr, Username: args[0], Password: args[1], DisableIdentity: true})
}

// ff-proxy start | cut | refuse D | latency D | wait | tried N: a
// fault-injecting proxy in front of the server; start sets PROXY_URL; wait
// blocks until a refuse window has ended; tried N waits until clients have
// opened N connections through it.
func cmdProxy(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	switch args[0] {
	case "start":
		p, err := fftest.StartFaultProxy(st.server.Addr)
		ts.Check(err)
		ts.Defer(p.Close)
		st.proxy = p
		ts.Setenv("PROXY_URL", "redis://"+p.Addr())
	case "cut":
		st.proxy.Cut()
	case "refuse":
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		st.proxy.Refuse(d)
	case "latency":
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		st.proxy.SetLatency(d)
	case "wait":
		st.proxy.WaitAccepting()
	case "tried":
		// Waits until clients have opened N connections through the
		// proxy (forwarded or not): a client has tried the server.
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		deadline := time.Now().Add(30 * time.Second)
		for st.proxy.Accepted() < int64(n) {
			if time.Now().After(deadline) {
				ts.Fatalf("%d connections through the proxy after 30s, want %d", st.proxy.Accepted(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	default:
		ts.Fatalf("usage: ff-proxy start|cut|refuse D|latency D|wait|tried N")
	}
}

// ff-stall sleep|pause D stalls the server for D without waiting for it:
// DEBUG SLEEP on a connection of its own, or CLIENT PAUSE ALL.
func cmdStall(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	d, err := time.ParseDuration(args[1])
	ts.Check(err)
	ctx := context.Background()
	switch args[0] {
	case "sleep":
		c := st.server.Client()
		go func() {
			defer c.Close()
			c.Do(ctx, "DEBUG", "SLEEP", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
		}()
		// Return once the server has stopped answering.
		probe := redis.NewClient(&redis.Options{Addr: st.server.Addr, DisableIdentity: true, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1})
		defer probe.Close()
		deadline := time.Now().Add(5 * time.Second)
		for probe.Ping(ctx).Err() == nil {
			if time.Now().After(deadline) {
				ts.Fatalf("the server never stalled")
			}
			time.Sleep(5 * time.Millisecond)
		}
	case "pause":
		ts.Check(st.client.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL").Err())
	default:
		ts.Fatalf("usage: ff-stall sleep|pause D")
	}
}

// ff-acl USER RULES... runs ACL SETUSER USER reset on RULES... on the
// standalone server or on every primary of the cluster.
func cmdACL(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	ctx := context.Background()
	cmd := []any{"ACL", "SETUSER", args[0], "reset"}
	for _, r := range args[1:] {
		cmd = append(cmd, r)
	}
	if st.cluster != nil {
		ts.Check(st.cluster.ForEachPrimary(ctx, func(n *redis.Client) error { return n.Do(ctx, cmd...).Err() }))
		return
	}
	ts.Check(st.client.Do(ctx, cmd...).Err())
}

// ff-wait-up waits up to 15s for the server to answer PING again (after a
// DEBUG SLEEP, say).
func cmdWaitUp(ts *testscript.TestScript, neg bool, args []string) {
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for state(ts).client.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			ts.Fatalf("the server did not answer for 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ff-stats reset | wait CMD N: CONFIG RESETSTAT on every primary, or wait
// up to 15s until CMD was called at least N times since (summed over the
// primaries), to know that a background ffdelay has done its first pass.
func cmdStats(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	ctx := context.Background()
	each := func(fn func(c redis.Cmdable) error) error {
		if st.cluster != nil {
			return st.cluster.ForEachPrimary(ctx, func(n *redis.Client) error { return fn(n) })
		}
		return fn(st.client)
	}
	switch {
	case len(args) == 1 && args[0] == "reset":
		ts.Check(each(func(c redis.Cmdable) error { return c.ConfigResetStat(ctx).Err() }))
	case len(args) == 3 && args[0] == "wait":
		want, err := strconv.ParseInt(args[2], 10, 64)
		ts.Check(err)
		deadline := time.Now().Add(15 * time.Second)
		for {
			var calls atomic.Int64
			ts.Check(each(func(c redis.Cmdable) error {
				info, err := c.Info(ctx, "commandstats").Result()
				if err != nil {
					return err
				}
				calls.Add(fftest.CommandCalls(info, args[1]))
				return nil
			}))
			if calls.Load() >= want {
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("%s was called %d times in 15s, want %d", args[1], calls.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	default:
		ts.Fatalf("usage: ff-stats reset | ff-stats wait CMD N")
	}
}

// ff-fake http starts a TCP server that answers every read with an HTTP
// error page, and sets FAKE_ADDR.
func cmdFake(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || args[0] != "http" {
		ts.Fatalf("usage: ff-fake http")
	}
	f, err := fftest.StartFakeServer([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<!DOCTYPE HTML>\n"))
	ts.Check(err)
	ts.Defer(f.Close)
	ts.Setenv("FAKE_ADDR", f.Addr())
}

// ff-json [ndjson] checks that the last command's stdout is one valid JSON
// document (or, with ndjson, one valid JSON object per line).
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	out := ts.ReadFile("stdout")
	docs := []string{out}
	if len(args) > 0 && args[0] == "ndjson" {
		docs = strings.Split(strings.TrimRight(out, "\n"), "\n")
	}
	for _, d := range docs {
		if !json.Valid([]byte(d)) {
			ts.Fatalf("stdout is not valid JSON: %.300q", d)
		}
	}
}

// ff-slow N loads the fixture library with ff_promote_delayed spinning N
// iterations first (a slower server, for --max-stall).
func cmdSlow(ts *testscript.TestScript, neg bool, args []string) {
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	st := state(ts)
	ctx := context.Background()
	if st.cluster != nil {
		ts.Check(st.cluster.ForEachPrimary(ctx, func(c *redis.Client) error { return fftest.LoadSlowLibrary(ctx, c, n) }))
		return
	}
	ts.Check(fftest.LoadSlowLibrary(ctx, st.client, n))
}
