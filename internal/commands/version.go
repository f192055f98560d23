package commands

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

func newVersionCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print ffdelay's version and Go build information",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(d.stdout, "ffdelay %s\n", Version)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(d.stdout, "go: %s\nmodule: %s %s\n", bi.GoVersion, bi.Main.Path, bi.Main.Version)
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH":
						fmt.Fprintf(d.stdout, "%s: %s\n", s.Key, s.Value)
					}
				}
				for _, dep := range bi.Deps {
					fmt.Fprintf(d.stdout, "dep: %s %s\n", dep.Path, dep.Version)
				}
			}
			return nil
		},
	}
}
