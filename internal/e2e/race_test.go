//go:build race

package e2e

// raceBuild makes the ffdelay processes these tests start race-instrumented
// too when the tests themselves run under the race detector.
const raceBuild = true
