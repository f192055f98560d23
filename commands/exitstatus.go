package commands

import "github.com/urfave/cli/v2"

// exitStatus is what each command's --help says about its exit codes (the
// README's "Exit codes" table says the same for all of them).
var exitStatus = map[string]string{
	"list": `Exit status is 0 when the sets were read (also when nothing is due), 1 when
a set could not be read (a key of the wrong type), 2 for a usage error, 3
when the server cannot be used (unreachable, not Redis/Valkey, TLS mismatch,
refused credentials or commands), 130/143 after SIGINT/SIGTERM.`,
	"promote": `Exit status is 0 when every due execution was promoted or cleaned, 1 when
some failed (needs_repair, a Lua error) or in watch mode when the last cycle
failed, 2 for a usage error, 3 when the server cannot be used or was lost
(after printing what was done), 130/143 after SIGINT/SIGTERM (the batch in
flight completes first; in watch mode 0 after the summary).`,
	"inspect": `Exit status is 0 when every id was found, 1 when one was not, 2 for a
malformed id or a usage error, 3 when the server cannot be used.`,
	"check": `Exit status is 0 when every check passed (warnings allowed unless
--strict), 1 when one failed, 2 for a usage error, 3 when the server cannot
be used at all (unreachable, not Redis/Valkey, TLS mismatch, refused
credentials).`,
	"audit": `Exit status is 0 when every execution is where its core says, 1 while
problems remain (after --repair: those it could not repair), 2 for a usage
error, 3 when the server cannot be used, 130/143 after SIGINT/SIGTERM.`,
	"top": `Exit status is 0 after q, Ctrl-C or SIGTERM (the terminal is restored), 2 for a
usage error; a server that cannot be reached shows as such on the screen
and is tried again every refresh.`,
	"completion": `Exit status is 0, or 2 for an unknown shell.`,
	"version":    `Exit status is 0.`,
}

// describeExitStatus adds each command's exit statuses to its help.
func describeExitStatus(cmds []*cli.Command) {
	for _, c := range cmds {
		if s, ok := exitStatus[c.Name]; ok {
			c.Description = s
		}
	}
}
