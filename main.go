// Command ffdelay sees, promotes and diagnoses FlowFabric's delayed
// executions on Valkey/Redis.
package main

import (
	"context"
	"os"

	"github.com/flowfabric/ffdelay/commands"
)

func main() {
	ctx, stop := commands.SignalContext(context.Background())
	code := commands.Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
