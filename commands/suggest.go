package commands

// Usage errors that say what was meant: the nearest command or flag to a
// typo, and the help to read.

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// commandNames are the commands an unknown one is compared with.
var commandNames = []string{"list", "forecast", "promote", "inspect", "check", "audit", "top", "completion", "version"}

// helpCommand is the help a usage error points to: the command's own
// (ffdelay promote --help lists its flags), or ffdelay's.
func helpCommand(app *cli.App, args []string) string {
	for _, a := range args[min(1, len(args)):] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		for _, c := range app.Commands {
			if c.Name == a {
				return "ffdelay " + a
			}
		}
	}
	return "ffdelay"
}

// unknownFlag says that a flag does not exist, as it was typed (-n stays
// -n), with the nearest flag of the command when the typo is small. A
// password given as a flag gets where a password goes instead.
func unknownFlag(c *cli.Context, name string, args []string) error {
	typed := "--" + name
	for _, a := range args {
		if n, _, _ := strings.Cut(a, "="); strings.HasPrefix(n, "-") && strings.TrimLeft(n, "-") == name {
			typed = n
			break
		}
	}
	if name == "password" || name == "pass" || name == "a" {
		return usageError("unknown flag %s: a password on the command line is visible to every user of the machine (ps, shell history); give it with --password-file FILE, or in FFDELAY_PASSWORD or REDISCLI_AUTH", typed)
	}
	var names []string
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		flags = c.Command.Flags
	}
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	if near := nearest(name, names); near != "" {
		dash := "--"
		if len(near) == 1 {
			dash = "-"
		}
		return usageError("unknown flag %s: did you mean %s%s?", typed, dash, near)
	}
	return usageError("unknown flag %s", typed)
}

// unknownCommand names the nearest command when the typo is small.
// urfave/cli's own Suggest is not used: its SuggestCommand always names the
// closest command by Jaro-Winkler, however far ("frobnicate" would get a
// "did you mean"), and writes its own text where ffdelay's usage errors are
// one line (JSON with -o json) and exit 2.
func unknownCommand(name string) error {
	if best := nearest(strings.ToLower(name), commandNames); best != "" {
		return usageError("unknown command %q: did you mean %q?", name, best)
	}
	return usageError("unknown command %q: use %s or %s", name, strings.Join(commandNames[:len(commandNames)-1], ", "), commandNames[len(commandNames)-1])
}

// nearest is the candidate closest to name when the typo is small (an
// edit distance of at most 2, and less than half the name), else "".
func nearest(name string, candidates []string) string {
	best, dist := "", min(3, (len(name)+1)/2)
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := editDistance(name, c); d < dist {
			best, dist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
