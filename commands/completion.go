package commands

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagValues are the flags whose values come from a fixed set: completion
// offers them.
var flagValues = map[string][]string{
	flagOutput:    {"table", "json", "ndjson"},
	flagColor:     {"auto", "always", "never"},
	flagLogFormat: {"text", "json"},
	flagProgress:  {"auto", "always", "never"},
}

// completionShells are what `ffdelay completion` takes.
var completionShells = []string{"bash", "zsh", "fish"}

// commandFlags lists a command's flags as typed: --long and -s.
func commandFlags(flags []cli.Flag) []string {
	var out []string
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			if len(n) == 1 {
				out = append(out, "-"+n)
			} else {
				out = append(out, "--"+n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// bashScript is a completion function generated from the commands and
// their flags, so it never lags behind them: the command names, each
// command's flags (also while the word being typed is one), and the values
// of the flags that take a fixed set.
func bashScript(app *cli.App) string {
	var b strings.Builder
	b.WriteString("# ffdelay completion for bash: source it, or install it as\n# /etc/bash_completion.d/ffdelay\n")
	b.WriteString("_ffdelay_complete() {\n")
	b.WriteString("\tlocal cur prev cmd i words\n")
	b.WriteString("\tcur=\"${COMP_WORDS[COMP_CWORD]}\"\n\tprev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	b.WriteString("\tcase \"$prev\" in\n")
	names := make([]string, 0, len(flagValues))
	for n := range flagValues {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pat := "--" + n
		if n == flagOutput {
			pat = "-o|--" + n
		}
		fmt.Fprintf(&b, "\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", pat, strings.Join(flagValues[n], " "))
	}
	b.WriteString("\tesac\n")
	b.WriteString("\tcmd=\"\"\n\tfor ((i = 1; i < COMP_CWORD; i++)); do\n\t\tcase \"${COMP_WORDS[i]}\" in -*) ;; *) cmd=\"${COMP_WORDS[i]}\"; break ;; esac\n\tdone\n")
	b.WriteString("\tcase \"$cmd\" in\n")
	var cmds []string
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		cmds = append(cmds, c.Name)
		words := commandFlags(c.Flags)
		if c.Name == "completion" {
			words = append(completionShells, words...)
		}
		fmt.Fprintf(&b, "\t%s) words=%q ;;\n", c.Name, strings.Join(words, " "))
	}
	fmt.Fprintf(&b, "\t*) words=%q ;;\n", strings.Join(append(cmds, commandFlags(app.Flags)...), " "))
	b.WriteString("\tesac\n")
	b.WriteString("\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n}\n")
	b.WriteString("complete -o default -F _ffdelay_complete ffdelay\n")
	return b.String()
}

// zshScript runs the bash function through zsh's bashcompinit.
func zshScript(app *cli.App) string {
	return "# ffdelay completion for zsh: source it from ~/.zshrc\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" + bashScript(app)
}

// fishScript completes the commands, each command's flags and the values
// of the flags that take a fixed set.
func fishScript(app *cli.App) string {
	var b strings.Builder
	b.WriteString("# ffdelay completion for fish: install it as ~/.config/fish/completions/ffdelay.fish\ncomplete -c ffdelay -f\n")
	var cmds []string
	for _, c := range app.Commands {
		if !c.Hidden {
			cmds = append(cmds, c.Name)
		}
	}
	fmt.Fprintf(&b, "complete -c ffdelay -n '__fish_use_subcommand' -a %q\n", strings.Join(cmds, " "))
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		cond := fmt.Sprintf("__fish_seen_subcommand_from %s", c.Name)
		if c.Name == "completion" {
			fmt.Fprintf(&b, "complete -c ffdelay -n '%s' -a %q\n", cond, strings.Join(completionShells, " "))
		}
		for _, f := range c.Flags {
			if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
				continue
			}
			line := "complete -c ffdelay -n '" + cond + "'"
			for _, n := range f.Names() {
				if len(n) == 1 {
					line += " -s " + n
				} else {
					line += " -l " + n
					if vals, ok := flagValues[n]; ok {
						line += fmt.Sprintf(" -x -a %q", strings.Join(vals, " "))
					}
				}
			}
			if df, ok := f.(cli.DocGenerationFlag); ok && df.GetUsage() != "" {
				line += " -d " + fishQuote(df.GetUsage())
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func newCompletionCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		UsageText: "ffdelay completion bash|zsh|fish\n\nExamples:\n   ffdelay completion bash > /etc/bash_completion.d/ffdelay\n   ffdelay completion fish > ~/.config/fish/completions/ffdelay.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("completion needs one shell: bash, zsh or fish")
			}
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(d.stdout, bashScript(c.App))
			case "zsh":
				fmt.Fprint(d.stdout, zshScript(c.App))
			case "fish":
				fmt.Fprint(d.stdout, fishScript(c.App))
			default:
				return usageError("completion: unknown shell %q: use bash, zsh or fish", c.Args().First())
			}
			return nil
		},
	}
}
