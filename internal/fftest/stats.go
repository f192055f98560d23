package fftest

import "github.com/flowfabric/ffdelay/redisops"

// CommandStat is one command's line of INFO commandstats.
type CommandStat struct{ Calls, Usec int64 }

// ParseCommandStat finds cmd (lower case, e.g. "fcall" or "zrangebyscore")
// in an INFO commandstats reply.
func ParseCommandStat(info, cmd string) CommandStat {
	calls, usec := redisops.ParseCommandStat(info, cmd)
	return CommandStat{Calls: calls, Usec: usec}
}

// CommandCalls is ParseCommandStat's call count.
func CommandCalls(info, cmd string) int64 { return ParseCommandStat(info, cmd).Calls }
