package fftest

import (
	"strconv"
	"strings"
)

// CommandStat is one command's line of INFO commandstats.
type CommandStat struct{ Calls, Usec int64 }

// ParseCommandStat finds cmd (lower case, e.g. "fcall" or "zrangebyscore")
// in an INFO commandstats reply.
func ParseCommandStat(info, cmd string) CommandStat {
	var st CommandStat
	prefix := "cmdstat_" + cmd + ":"
	for _, l := range strings.Split(info, "\n") {
		l = strings.TrimSpace(l)
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				st.Calls = n
			case "usec":
				st.Usec = n
			}
		}
	}
	return st
}

// CommandCalls is ParseCommandStat's call count.
func CommandCalls(info, cmd string) int64 { return ParseCommandStat(info, cmd).Calls }
