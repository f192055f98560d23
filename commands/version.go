package commands

import (
	"runtime/debug"

	"github.com/flowfabric/ffdelay/output"
	"github.com/urfave/cli/v2"
)

func newVersionCommand(d *deps) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print ffdelay's version and Go build information (-o json for JSON)",
		Action: func(c *cli.Context) error {
			if err := setupOutput(c, d); err != nil {
				return err
			}
			d.printer.Version(versionInfo())
			return nil
		},
	}
}

func versionInfo() output.VersionInfo {
	v := output.VersionInfo{Version: Version, Settings: map[string]string{}}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Go, v.Module = bi.GoVersion, bi.Main.Path+" "+bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH":
			v.Settings[s.Key] = s.Value
			v.SettingKeys = append(v.SettingKeys, s.Key)
		}
	}
	for _, dep := range bi.Deps {
		v.Deps = append(v.Deps, dep.Path+" "+dep.Version)
	}
	return v
}
