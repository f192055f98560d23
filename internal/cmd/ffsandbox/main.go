//go:build ffsandbox

// Command ffsandbox starts a throwaway redis-server with the fixture
// flowfabric library and sample FlowFabric data, then runs ffdelay against
// it. `make demo` uses it; `make bench` uses its bench subcommand.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/flowfabric/ffdelay/internal/fftest"
	"github.com/redis/go-redis/v9"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sandbox demo|bench [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo(os.Args[2:])
	case "bench":
		err = bench(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: use demo or bench", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	bin := fs.String("ffdelay", "./ffdelay", "ffdelay binary")
	keep := fs.Bool("keep", false, "leave the server running and print its URL")
	url := fs.String("url", "", "seed this server instead of starting a throwaway one (redis://host:port[/db])")
	force := fs.Bool("force", false, "with --url, seed a database that already holds keys")
	loadLibrary := fs.Bool("load-library", false, "with --url, load the project's fixture flowfabric library when the server has none")
	fs.Parse(args)
	ctx := context.Background()
	var c *redis.Client
	what, hasLibrary := "", true
	if *url == "" {
		srv, err := fftest.StartServer("", fftest.ServerOptions{})
		if err != nil {
			return err
		}
		if !*keep {
			defer func() { srv.Stop(); os.RemoveAll(srv.Dir) }()
		}
		c = srv.Client()
		defer c.Close()
		if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
			return err
		}
		*url = "redis://" + srv.Addr
		what = fmt.Sprintf("a throwaway %s at %s with the fixture flowfabric library", srv.Binary.Name(), *url)
	} else {
		var err error
		if c, hasLibrary, err = ownServer(ctx, *url, *force, *loadLibrary); err != nil {
			return err
		}
		defer c.Close()
		what = "your server at " + *url
	}
	ids, err := seedDemo(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("# %s and %d sample executions\n\n", what, len(ids))
	for _, s := range demoSteps(ids, hasLibrary) {
		fmt.Printf("$ ffdelay %s\n", strings.Join(quote(s.args), " "))
		cmd := exec.Command(*bin, append(s.args, "--url", *url)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			code := cmd.ProcessState.ExitCode()
			why := s.exit[code]
			if why == "" {
				why = "not expected here"
			}
			fmt.Printf("(exit status %d: %s)\n", code, why)
		}
		fmt.Println()
	}
	showTop(*bin, *url)
	if *keep {
		fmt.Printf("server left running: ffdelay list --url %s\n", *url)
	}
	return nil
}

// demoStep is one command of the demo and what its exit statuses mean
// there.
type demoStep struct {
	args []string
	exit map[int]string
}

// demoSteps is the demo's tour: look, preview, do, fix, look again. The
// dry run and the real run share one scope, so their counts match. On a
// server without the flowfabric library, what cannot run says so.
func demoSteps(ids []string, hasLibrary bool) []demoStep {
	overdue := "expected here: check fails while executions are overdue, as a CI step or cron job would see it"
	steps := demoTour(ids, overdue)
	if !hasLibrary {
		noLib := "expected here: this server has no flowfabric library, and promote will not run without it (the note above says how to get one)"
		for i := range steps {
			if steps[i].exit == nil {
				steps[i].exit = map[int]string{}
			}
			steps[i].exit[3] = noLib
			if steps[i].args[0] == "audit" && steps[i].exit[1] == "" {
				steps[i].exit[1] = "expected here: nothing was repaired without the library"
			}
		}
	}
	return steps
}

func demoTour(ids []string, overdue string) []demoStep {
	return []demoStep{
		{args: []string{"list"}},
		{args: []string{"forecast"}},
		{args: []string{"check", "--discover-lanes"}, exit: map[int]string{1: overdue}},
		{args: []string{"inspect", ids[len(ids)-3]}},
		{args: []string{"promote", "--dry-run", "--discover-lanes"}},
		{args: []string{"promote", "--discover-lanes"}, exit: map[int]string{1: "expected here: two executions need repair, and promote says so with exit 1 until they are repaired"}},
		{args: []string{"audit"}, exit: map[int]string{1: "expected here: one execution sits in no eligible set, and audit fails until it is repaired"}},
		{args: []string{"promote", "--repair", "--discover-lanes"}},
		{args: []string{"audit"}},
		{args: []string{"list", "--all", "--discover-lanes"}},
	}
}

// ownServer connects to the user's server for the demo: an empty database
// only (unless force), and the fixture library loaded only when asked and
// when none is there (a real flowfabric library is never replaced).
func ownServer(ctx context.Context, url string, force, loadLibrary bool) (*redis.Client, bool, error) {
	opts, err := redis.ParseURL(strings.NewReplacer("valkeys://", "rediss://", "valkey://", "redis://").Replace(url))
	if err != nil {
		return nil, false, fmt.Errorf("--url %q: %v", url, err)
	}
	c := redis.NewClient(opts)
	fail := func(err error) (*redis.Client, bool, error) {
		c.Close()
		return nil, false, err
	}
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return fail(fmt.Errorf("cannot use %s: %v", url, err))
	}
	if n > 0 && !force {
		return fail(fmt.Errorf("%s holds %d keys: the demo seeds sample FlowFabric data only into an empty database (name another one, redis://host:port/15, or pass FORCE=1 to seed it all the same)", url, n))
	}
	libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: "flowfabric"}).Result()
	if err != nil {
		return fail(fmt.Errorf("cannot list the functions of %s (FUNCTION needs Redis 7 or Valkey): %v", url, err))
	}
	switch {
	case len(libs) > 0:
	case loadLibrary:
		if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
			return fail(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "note: %s has no flowfabric library: promote and check will say so (start ff-server once against it, or pass LOAD_LIBRARY=1 to load the project's test fixture)\n", url)
		return c, false, nil
	}
	return c, true, nil
}

// seedDemo writes the demo's sample executions and returns their ids.
func seedDemo(ctx context.Context, c redis.Cmdable) ([]string, error) {
	if err := fftest.SetPartitions(ctx, c, 16); err != nil {
		return nil, err
	}
	if err := fftest.RegisterLanes(ctx, c, "default", "payments"); err != nil {
		return nil, err
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		return nil, err
	}
	var execs []fftest.Exec
	for i := 0; i < 300; i++ {
		e := fftest.Exec{Partition: i % 16, Lane: "default", Shape: fftest.Due, OffsetMs: -int64(1000 + i*900), Namespace: "acme"}
		if i%3 == 0 {
			e.Lane, e.Namespace = "payments", "globex"
		}
		if i%10 == 0 {
			e.Shape = fftest.Future
			e.OffsetMs = int64(30_000 + i*1000)
		}
		if i%25 == 0 {
			e.Shape = fftest.Retry
		}
		execs = append(execs, e)
	}
	// A wave for forecast: 400 falling due 20-25 minutes from now.
	for i := 0; i < 400; i++ {
		execs = append(execs, fftest.Exec{Partition: i % 16, Lane: "default", Shape: fftest.Future, OffsetMs: int64(20*60_000 + i*700), Namespace: "acme"})
	}
	execs = append(execs,
		fftest.Exec{Partition: 3, Lane: "default", Shape: fftest.NoDelayUntil, OffsetMs: -400_000},
		fftest.Exec{Partition: 5, Lane: "payments", Shape: fftest.PastEligible},
		fftest.Exec{Partition: 7, Lane: "reports", Shape: fftest.Due, OffsetMs: -90_000},
	)
	return fftest.Seed(ctx, c, now, execs)
}

// showTop shows ffdelay top for two seconds: in a tmux terminal when tmux
// is there (its screen is printed), else the one snapshot top prints
// without a terminal.
func showTop(bin, url string) {
	fmt.Printf("$ ffdelay top   (one frame of the live view, taken after 2 s; in your terminal it refreshes until you press q)\n")
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		cmd := exec.Command(bin, "top", "--url", url)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.Run()
		return
	}
	dir, err := os.MkdirTemp("", "ffdelay-demo-")
	if err != nil {
		return
	}
	defer os.RemoveAll(dir)
	sock := dir + "/tmux"
	exec.Command(tmux, "-S", sock, "new-session", "-d", "-x", "110", "-y", "16", "exec "+bin+" top --interval 500ms --url "+url).Run()
	time.Sleep(2 * time.Second)
	out, _ := exec.Command(tmux, "-S", sock, "capture-pane", "-p").Output()
	exec.Command(tmux, "-S", sock, "kill-server").Run()
	fmt.Println(strings.TrimRight(string(out), "\n"))
	fmt.Println()
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "{}: ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
