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
	fs.Parse(args)
	ctx := context.Background()
	srv, err := fftest.StartServer("", fftest.ServerOptions{})
	if err != nil {
		return err
	}
	if !*keep {
		defer func() { srv.Stop(); os.RemoveAll(srv.Dir) }()
	}
	c := srv.Client()
	defer c.Close()
	if err := fftest.LoadLibrary(ctx, c, ""); err != nil {
		return err
	}
	if err := fftest.SetPartitions(ctx, c, 16); err != nil {
		return err
	}
	if err := fftest.RegisterLanes(ctx, c, "default", "payments"); err != nil {
		return err
	}
	now, err := fftest.ServerNowMs(ctx, c)
	if err != nil {
		return err
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
	execs = append(execs,
		fftest.Exec{Partition: 3, Lane: "default", Shape: fftest.NoDelayUntil, OffsetMs: -400_000},
		fftest.Exec{Partition: 5, Lane: "payments", Shape: fftest.PastEligible},
		fftest.Exec{Partition: 7, Lane: "reports", Shape: fftest.Due, OffsetMs: -90_000},
	)
	ids, err := fftest.Seed(ctx, c, now, execs)
	if err != nil {
		return err
	}
	url := "redis://" + srv.Addr
	fmt.Printf("# throwaway %s at %s with the fixture flowfabric library and %d sample executions\n\n", srv.Binary.Name(), url, len(ids))
	steps := [][]string{
		{"list"},
		{"check", "--discover-lanes"},
		{"inspect", ids[len(ids)-3]},
		{"promote", "--dry-run"},
		{"promote", "--discover-lanes"},
		{"audit"},
		{"promote", "--repair"},
		{"audit"},
		{"list", "--all", "--discover-lanes"},
	}
	for _, s := range steps {
		fmt.Printf("$ ffdelay %s\n", strings.Join(quote(s), " "))
		cmd := exec.Command(*bin, append(s, "--url", url)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Printf("(exit status %d)\n", cmd.ProcessState.ExitCode())
		}
		fmt.Println()
	}
	showTop(*bin, url)
	if *keep {
		fmt.Printf("server left running: ffdelay list --url %s\n", url)
	}
	return nil
}

// showTop shows ffdelay top for two seconds: in a tmux terminal when tmux
// is there (its screen is printed), else the one snapshot top prints
// without a terminal.
func showTop(bin, url string) {
	fmt.Printf("$ ffdelay top   (the live view; q quits)\n")
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
