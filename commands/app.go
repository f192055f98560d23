// Package commands is ffdelay's command line: one file per command, each
// flags -> options struct -> run, calling redisops and the engine
// (internal/promote) and handing typed results to output. It decides what a
// result means for the user (check's pass, warn or fail; exit codes);
// output words it. The long-running `promote --watch` service lives in
// internal/watch, which commands hands the cycle to run.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// Exit codes of the contract.
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitUnusable = 3
)

// exitError carries the exit code an error maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{ExitUsage, fmt.Errorf(format, args...)}
}

// errSilentFailure ends a run with exit 1 after its output said why.
var errSilentFailure = &exitError{ExitFailed, errors.New("")}

// Interrupted is the cancel cause set when a signal arrives.
type Interrupted struct{ Signal os.Signal }

func (i Interrupted) Error() string {
	name := "SIGINT"
	if i.Signal == syscall.SIGTERM {
		name = "SIGTERM"
	}
	return "interrupted by " + name
}

// ExitCode is 130 for SIGINT and 143 for SIGTERM.
func (i Interrupted) ExitCode() int {
	if i.Signal == syscall.SIGTERM {
		return 143
	}
	return 130
}

// hardStop is how long the process may take to finish after the first
// signal (the batch in flight, the summary) before it exits all the same:
// a run blocked on something no signal reaches (a write to a pipe nobody
// reads) must not outlive its SIGTERM.
const hardStop = 10 * time.Second

// SignalContext is cancelled, with an Interrupted cause, on the first SIGINT
// or SIGTERM; a second signal kills the process the usual way, and so does
// hardStop after the first.
func SignalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	// A closed stdout (ffdelay list | head) must come back as EPIPE from
	// the write, not kill the process in the middle of a promotion.
	signal.Ignore(syscall.SIGPIPE)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			cancel(Interrupted{s})
			signal.Stop(ch)
			time.AfterFunc(hardStop, func() {
				// stderr may be the blocked writer: never wait for it.
				go fmt.Fprintf(os.Stderr, "ffdelay: still not stopped %s after %s; exiting\n", hardStop, s)
				time.Sleep(100 * time.Millisecond)
				os.Exit(Interrupted{s}.ExitCode())
			})
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel(nil) }
}

// deps are the process's outside world, passed in so tests run in-process.
type deps struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            map[string]string
	printer        *output.Printer
	// terminal reports whether a writer is a terminal (--color auto,
	// --progress auto); tests override it.
	terminal func(io.Writer) bool
	// passwordSource names where the password came from (never the
	// password), for -v.
	passwordSource string
	// args are the command line as given, for messages that echo a flag
	// the way it was typed.
	args []string
}

func (d *deps) getenv(k string) string { return d.env[k] }

// Version is set at build time with -ldflags "-X .../commands.Version=...".
var Version = "dev"

// Run runs ffdelay with args (args[0] is the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	redisops.SilenceLibraryLogs()
	d := &deps{stdin: stdin, stdout: stdout, stderr: stderr, env: map[string]string{}, terminal: isTerminal}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			d.env[k] = v
		}
	}
	return run(ctx, args, d)
}

// run is Run with its outside world already in d.
func run(ctx context.Context, args []string, d *deps) int {
	stdout, stderr := d.stdout, d.stderr
	d.args = args
	app := newApp(ctx, d)
	err := app.RunContext(ctx, reorderArgs(app, args))
	code := exitCode(ctx, err)
	if d.printer != nil && d.printer.EncodeErr() != nil && err == nil {
		err = fmt.Errorf("cannot encode the output: %w", d.printer.EncodeErr())
		code = ExitFailed
	}
	if d.printer != nil {
		if werr := d.printer.Flush(); werr != nil && !errors.Is(werr, syscall.EPIPE) {
			// A full disk or a closed file must not pass for a complete
			// report; a reader that went away (| head) is not an error.
			fmt.Fprintf(stderr, "ffdelay: cannot write the output: %v (check the disk or the file stdout goes to)\n", werr)
			if code == ExitOK {
				code = ExitFailed
			}
		}
	}
	if err != nil && err != errSilentFailure {
		msg := err
		if code == ExitUsage {
			msg = fmt.Errorf("%v (see %s --help)", err, helpCommand(app, args))
		}
		if d.printer == nil {
			// The error came before any command set up its output (a flag
			// that does not parse): honour -o json all the same.
			f, ferr := output.ParseFormat(formatFromArgs(args, d.env["FFDELAY_OUTPUT"]))
			if ferr != nil {
				f = output.Table
			}
			d.printer = output.New(stdout, stderr, f, false, false)
		}
		d.printer.Error(msg, code)
	}
	return code
}

// formatFromArgs finds -o/--output in raw arguments, for errors raised
// before the flags were parsed.
func formatFromArgs(args []string, env string) string {
	format := env
	for i, a := range args {
		switch {
		case (a == "-o" || a == "--output" || a == "-output") && i+1 < len(args):
			format = args[i+1]
		case strings.HasPrefix(a, "-o="), strings.HasPrefix(a, "--output="), strings.HasPrefix(a, "-output="):
			format = a[strings.Index(a, "=")+1:]
		}
	}
	if format == "" {
		return "table"
	}
	return format
}

func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var ie Interrupted
	if errors.As(context.Cause(ctx), &ie) && (errors.Is(err, context.Canceled) || errors.As(err, &ie)) {
		return ie.ExitCode()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return redisops.KindOf(err).ExitStatus()
}

func newApp(ctx context.Context, d *deps) *cli.App {
	onUsage := func(c *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			return unknownFlag(c, strings.TrimLeft(name, "-"), d.args)
		}
		return usageError("%s", msg)
	}
	app := &cli.App{
		Name:  "ffdelay",
		Usage: "see, promote and diagnose FlowFabric's delayed executions",
		UsageText: `ffdelay [global options] command [command options]

Examples:
   ffdelay list --url redis://10.0.0.5:6379            what is due, per partition and lane
   ffdelay promote --dry-run --namespace acme          what a promotion would do
   ffdelay promote --watch --interval 1s               stand in for the engine's promoter
   ffdelay inspect '{fp:7}:0b9e5a0c-1f2d-4c1b-9a53-6f0e2a7d9c11'
   ffdelay check --max-overdue 2m -o json              CI/monitoring health check`,
		Version: Version,
		// urfave/cli's own --version flag is a package variable; ffdelay
		// declares its own so that building an app changes no global state.
		HideVersion:               true,
		Writer:                    d.stdout,
		ErrWriter:                 d.stderr,
		Flags:                     append(globalFlags(), &cli.BoolFlag{Name: flagVersion, Usage: "print the version"}),
		HideHelpCommand:           true,
		EnableBashCompletion:      true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError:              onUsage,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return unknownCommand(c.Args().First())
			}
			if c.Bool(flagVersion) {
				if err := setupOutput(c, d); err != nil {
					return err
				}
				d.printer.Version(versionInfo())
				return nil
			}
			cli.ShowAppHelp(c)
			return nil
		},
		Commands: []*cli.Command{
			newListCommand(ctx, d),
			newForecastCommand(ctx, d),
			newPromoteCommand(ctx, d),
			newInspectCommand(ctx, d),
			newCheckCommand(ctx, d),
			newAuditCommand(ctx, d),
			newTopCommand(ctx, d),
			newCompletionCommand(d),
			newVersionCommand(d),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsage
		switch c.Name {
		case "completion":
			// It prints a script: no connection, no output format.
		case "version":
			c.Flags = append(c.Flags, outputFlags()...)
		default:
			c.Flags = append(c.Flags, globalFlags()...)
		}
		for _, f := range c.Flags {
			// A default shows as (default: 20), not (default: "20").
			if sf, ok := f.(*cli.StringFlag); ok && sf.Value != "" && sf.DefaultText == "" {
				sf.DefaultText = sf.Value
			}
		}
	}
	describeExitStatus(app.Commands)
	return app
}

// reorderArgs moves a command's positional arguments after its flags, since
// urfave/cli stops parsing flags at the first positional argument and
// `ffdelay inspect ID -o json` should work. v2 has no option for flags
// after arguments (v3 parses them interspersed; moving to v3 changes the
// whole command layer, which the design card fixes at v2).
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	i := 1
	boolFlag := map[string]bool{}
	addFlags := func(fs []cli.Flag) {
		for _, f := range fs {
			_, isBool := f.(*cli.BoolFlag)
			for _, n := range f.Names() {
				boolFlag[n] = isBool
			}
		}
	}
	addFlags(app.Flags)
	boolFlag["help"], boolFlag["h"] = true, true
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && !boolFlag[name] {
			i++
		}
	}
	if i >= len(args) {
		return args
	}
	for _, c := range app.Commands {
		if c.Name == args[i] {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	addFlags(cmd.Flags)
	out := append([]string{}, args[:i+1]...)
	var positional []string
	sawDash := false
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			positional = append(positional, args[j+1:]...)
			sawDash = true
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !boolFlag[name] && j+1 < len(args) {
				j++
				out = append(out, args[j])
			}
			continue
		}
		positional = append(positional, a)
	}
	if len(positional) > 0 || sawDash {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// terminalWidth is the width of the terminal w is, in columns (0 when it
// cannot be told).
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
