// Package e2e holds ffdelay's process scenarios: the real binary, built
// once per test run (with -race when the tests run under the race
// detector), against real servers started by internal/fftest: racing
// promoters, a cluster failover, signals in the middle of a run, the standby
// endpoint, hostile servers, write errors on stdout, discovery at scale and
// the states FlowFabric's own functions create. The command-line contract
// itself is tested by the scripts in testdata/script, run from main_test.go.
package e2e
