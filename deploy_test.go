package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The deployment examples are exercised as far as this machine allows:
// the systemd unit passes systemd-analyze verify (when the machine has
// it), the Kubernetes probes and PodMonitor point at the endpoints ffdelay
// serves, images are pinned, and the arguments every example passes are
// flags ffdelay accepts.
func TestDeploymentExamples(t *testing.T) {
	bin := buildBinary(t)
	unit, err := os.ReadFile("deploy/systemd/ffdelay.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "Restart=on-failure", "FFDELAY_LISTEN=", "ExecStart=/usr/local/bin/ffdelay promote --watch"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("systemd unit lacks %q", want)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		u := strings.ReplaceAll(string(unit), "/usr/local/bin/ffdelay", bin)
		u = strings.ReplaceAll(u, "EnvironmentFile=/", "EnvironmentFile=-/")
		path := filepath.Join(dir, "ffdelay.service")
		if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze is not on this machine: the unit's contents are checked, not verified")
	}

	k8s, err := os.ReadFile("deploy/kubernetes/ffdelay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ks := string(k8s)
	for _, want := range []string{"path: /healthz", "path: /readyz", "path: /metrics", "kind: PodMonitor", "containerPort: 9465", "value: 0.0.0.0:9465", "readOnlyRootFilesystem: true"} {
		if !strings.Contains(ks, want) {
			t.Errorf("Kubernetes example lacks %q", want)
		}
	}
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	images := regexp.MustCompile(`(?m)^\s*image:\s*(\S+)|^FROM\s+(\S+)`).FindAllStringSubmatch(ks+"\n"+string(docker), -1)
	if len(images) < 3 {
		t.Fatalf("found %d images in the examples", len(images))
	}
	for _, m := range images {
		img := m[1] + m[2]
		if img == "scratch" {
			continue // the empty image: nothing to pin
		}
		if !regexp.MustCompile(`:[0-9][^:]*$|:[a-z0-9.-]*[0-9][a-z0-9.-]*$|@sha256:`).MatchString(img) || strings.HasSuffix(img, ":latest") {
			t.Errorf("image %s is not pinned to a version", img)
		}
	}
	if !strings.Contains(string(docker), "CGO_ENABLED=0") {
		t.Error("Dockerfile does not build a static binary")
	}
	// The examples' arguments are flags ffdelay takes: a usage error would
	// exit 2; with no server the watch loop fails its one cycle (exit 1).
	cmd := exec.Command(bin, "promote", "--watch", "--quiet", "--max-cycles", "1", "--url", "redis://127.0.0.1:1", "--listen", "127.0.0.1:0")
	if code := exitCodeOf(cmd.Run()); code != 1 {
		t.Errorf("the examples' arguments: exit %d, want 1 (a failed cycle, not a usage error)", code)
	}
}
