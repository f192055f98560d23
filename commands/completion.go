package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks ffdelay itself for the words that may follow (urfave
// /cli answers --generate-bash-completion with the commands or flags).
const bashCompletion = `# ffdelay completion for bash: source it, or install it as
# /etc/bash_completion.d/ffdelay
_ffdelay_complete() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	words=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
	COMPREPLY=($(compgen -W "${words}" -- "${cur}"))
}
complete -o default -F _ffdelay_complete ffdelay
`

// zshCompletion reuses the bash function through zsh's bashcompinit.
const zshCompletion = `# ffdelay completion for zsh: source it from ~/.zshrc
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

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
				fmt.Fprint(d.stdout, bashCompletion)
			case "zsh":
				fmt.Fprint(d.stdout, zshCompletion)
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				fmt.Fprint(d.stdout, script)
			default:
				return usageError("completion: unknown shell %q: use bash, zsh or fish", c.Args().First())
			}
			return nil
		},
	}
}
