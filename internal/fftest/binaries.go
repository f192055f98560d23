package fftest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// ServersEnv names the server matrix: comma-separated paths to *-server
// binaries (redis-server, valkey-server). The matching cli is found beside
// each binary, else on PATH.
const ServersEnv = "FFDELAY_TEST_SERVERS"

// InstallHint is printed when no server binary is found.
const InstallHint = "no Valkey/Redis server found for the tests: apt-get install -y redis-server redis-tools " +
	"(or run make test, which installs it), or name server binaries in " + ServersEnv

// Binary is one server build of the matrix.
type Binary struct {
	// Server and CLI are the paths of the server and its cli.
	Server, CLI string
	// Product is "redis" or "valkey"; Version its version, e.g. "8.0.1".
	Product, Version string
}

// Name is the product and version, e.g. "valkey-8.0.1"; tests use it as
// their subtest name.
func (b Binary) Name() string { return b.Product + "-" + b.Version }

var (
	binariesOnce sync.Once
	binaries     []Binary
	binariesErr  error
)

// Binaries is the server matrix: the binaries named in FFDELAY_TEST_SERVERS,
// else valkey-server on PATH, else redis-server. It fails with InstallHint
// when nothing is found, and with the path when a named binary is missing.
func Binaries() ([]Binary, error) {
	binariesOnce.Do(func() { binaries, binariesErr = findBinaries(os.Getenv(ServersEnv)) })
	return binaries, binariesErr
}

// DefaultBinary is the first binary of the matrix.
func DefaultBinary() (Binary, error) {
	bs, err := Binaries()
	if err != nil {
		return Binary{}, err
	}
	return bs[0], nil
}

func findBinaries(list string) ([]Binary, error) {
	var paths []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		for _, name := range []string{"valkey-server", "redis-server"} {
			if p, err := exec.LookPath(name); err == nil {
				paths = []string{p}
				break
			}
		}
	}
	if len(paths) == 0 {
		return nil, errors.New(InstallHint)
	}
	var out []Binary
	for _, p := range paths {
		b, err := describeBinary(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

var versionRE = regexp.MustCompile(`v=(\d+\.\d+\.\d+)`)

// describeBinary finds the cli beside a server binary and reads the
// server's version from --version ("Redis server v=7.0.15", "Server
// v=7.2.7" for Valkey 7.2, "Valkey server v=8.0.1").
func describeBinary(server string) (Binary, error) {
	abs, err := filepath.Abs(server)
	if err != nil {
		return Binary{}, err
	}
	if _, err := os.Stat(abs); err != nil {
		return Binary{}, fmt.Errorf("%s names %s, which does not exist: %v", ServersEnv, server, err)
	}
	base := filepath.Base(abs)
	product, ok := strings.CutSuffix(base, "-server")
	if !ok {
		return Binary{}, fmt.Errorf("%s: %s is not a *-server binary (redis-server, valkey-server)", ServersEnv, server)
	}
	b := Binary{Server: abs, Product: product}
	cli := filepath.Join(filepath.Dir(abs), product+"-cli")
	if _, err := os.Stat(cli); err != nil {
		if cli, err = exec.LookPath(product + "-cli"); err != nil {
			return Binary{}, fmt.Errorf("no %s-cli beside %s or on PATH (needed for clusters)", product, abs)
		}
	}
	b.CLI = cli
	out, err := exec.Command(abs, "--version").Output()
	if err != nil {
		return Binary{}, fmt.Errorf("%s --version: %v", abs, err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return Binary{}, fmt.Errorf("%s --version printed no version: %q", abs, out)
	}
	b.Version = string(m[1])
	return b, nil
}

// EachServer runs fn as a subtest for every binary of the matrix, named
// after it. A matrix without binaries fails the test with InstallHint.
func EachServer(t *testing.T, fn func(t *testing.T, b Binary)) {
	t.Helper()
	bs, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		t.Run(b.Name(), func(t *testing.T) { fn(t, b) })
	}
}
