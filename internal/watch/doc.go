// Package watch is ffdelay's long-running service: `promote --watch`
// repeats a cycle every interval (start to start), keeps the failure
// backoff across cycles, and with --listen serves the standby endpoint:
// /metrics, /healthz (the loop is making progress) and /readyz (a probe of
// its own reached the server and the library a moment ago).
//
// What one cycle does (resolve the scope, run the promotion engine) is the
// caller's: commands hands Run a CycleFunc. The package decides when cycles
// run, how failures back off, what the endpoint answers and when the
// process gives up waiting for a blocked cycle.
package watch
