package output

import "fmt"

// VersionInfo is what `ffdelay version` reports.
type VersionInfo struct {
	Version  string            `json:"version"`
	Go       string            `json:"go,omitempty"`
	Module   string            `json:"module,omitempty"`
	Settings map[string]string `json:"build,omitempty"`
	// SettingKeys orders Settings for the text form.
	SettingKeys []string `json:"-"`
	Deps        []string `json:"deps,omitempty"`
}

// Version prints the version: text lines, or one JSON object.
func (p *Printer) Version(v VersionInfo) {
	if p.Machine() {
		p.writeJSON(v)
		return
	}
	fmt.Fprintf(p.out, "ffdelay %s\n", v.Version)
	if v.Go != "" {
		fmt.Fprintf(p.out, "go: %s\nmodule: %s\n", v.Go, v.Module)
	}
	for _, k := range v.SettingKeys {
		fmt.Fprintf(p.out, "%s: %s\n", k, v.Settings[k])
	}
	for _, d := range v.Deps {
		fmt.Fprintf(p.out, "dep: %s\n", d)
	}
}
