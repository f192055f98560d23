package commands

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/flowfabric/ffdelay/output"
	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// globalFlags are accepted before or after the subcommand; each call makes
// fresh flag values so the app's and a command's copies do not share state.
func globalFlags() []cli.Flag {
	return append(connectionFlags(), outputFlags()...)
}

// connectionFlags say which server and how.
func connectionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: flagURL, Usage: "server `URL` redis://[user[:password]@]host[:port][/db] (rediss:// for TLS; repeat or comma-separate cluster seeds) [$FFDELAY_URL]"},
		&cli.StringFlag{Name: flagHost, Usage: "server `HOST` when no URL is given [$FF_HOST] (default: localhost)"},
		&cli.StringFlag{Name: flagPort, Usage: "server `PORT` when no URL is given [$FF_PORT] (default: 6379)"},
		&cli.BoolFlag{Name: flagCluster, Usage: "Valkey/Redis Cluster mode [$FFDELAY_CLUSTER, $FF_CLUSTER]"},
		&cli.BoolFlag{Name: flagTLS, Usage: "use TLS [$FF_TLS]"},
		&cli.StringFlag{Name: flagTLSCa, Usage: "CA certificate `FILE` (PEM) to verify the server"},
		&cli.StringFlag{Name: flagTLSCert, Usage: "client certificate `FILE` (PEM) for mutual TLS"},
		&cli.StringFlag{Name: flagTLSKey, Usage: "client key `FILE` (PEM) for mutual TLS"},
		&cli.StringFlag{Name: flagTLSServerName, Usage: "server `NAME` to verify the certificate against"},
		&cli.BoolFlag{Name: flagTLSSkipVerify, Usage: "do not verify the server certificate (testing only)"},
		&cli.StringFlag{Name: flagUser, Usage: "ACL user `NAME` [$FFDELAY_USER]"},
		&cli.StringFlag{Name: flagPasswordFile, Usage: "read the password from `FILE` (else $FFDELAY_PASSWORD or $REDISCLI_AUTH hold the password itself)"},
		&cli.StringFlag{Name: flagTimeout, Usage: "per-request timeout `D`", Value: "5s"},
	}
}

// outputFlags say how to print.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagOutput, Aliases: []string{"o"}, Usage: "output `FORMAT`: table, json or ndjson [$FFDELAY_OUTPUT]"},
		&cli.StringFlag{Name: flagColor, Usage: "colour `WHEN`: auto, always or never (NO_COLOR disables it)", Value: "auto"},
		&cli.BoolFlag{Name: flagQuiet, Aliases: []string{"q"}, Usage: "no progress or notes on stderr"},
		&cli.StringFlag{Name: flagLogFormat, Usage: "stderr as `FORMAT`: text, or json lines with time, level and msg for log collectors [$FFDELAY_LOG_FORMAT]"},
	}
}

// flagSet finds the context (command or app) where a flag was given.
func flagSet(c *cli.Context, name string) *cli.Context {
	for _, x := range c.Lineage() {
		if x != nil && x.Command != nil && hasFlag(x, name) && x.IsSet(name) {
			return x
		}
	}
	for _, x := range c.Lineage() {
		if x != nil && x.IsSet(name) {
			return x
		}
	}
	return nil
}

func hasFlag(x *cli.Context, name string) bool {
	for _, f := range x.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func flagString(c *cli.Context, name string) (string, bool) {
	if x := flagSet(c, name); x != nil {
		return x.String(name), true
	}
	return "", false
}

func strOr(c *cli.Context, name, def string) string {
	if v, ok := flagString(c, name); ok {
		return v
	}
	return def
}

func strs(c *cli.Context, name string) []string {
	if x := flagSet(c, name); x != nil {
		return x.StringSlice(name)
	}
	return nil
}

func boolean(c *cli.Context, name string) (bool, bool) {
	if x := flagSet(c, name); x != nil {
		return x.Bool(name), true
	}
	return false, false
}

// setupOutput builds the printer from -o, --color, NO_COLOR and --quiet. It
// is the first thing every command does, so errors can be printed as JSON.
func setupOutput(c *cli.Context, d *deps) error {
	format := strOr(c, flagOutput, d.getenv("FFDELAY_OUTPUT"))
	if format == "" {
		format = "table"
	}
	f, err := output.ParseFormat(format)
	if err != nil {
		return usageError("%v", err)
	}
	quiet, _ := boolean(c, flagQuiet)
	useColor := false
	switch mode := strOr(c, flagColor, "auto"); mode {
	case "always":
		useColor = true
	case "never":
	case "auto":
		// NO_COLOR turns off what would be automatic; an explicit
		// --color always still wins (no-color.org).
		useColor = d.terminal(d.stdout) && d.env["NO_COLOR"] == ""
	default:
		d.printer = output.New(d.stdout, d.stderr, f, false, quiet)
		return usageError("--color %q: use auto, always or never", mode)
	}
	d.printer = output.New(d.stdout, d.stderr, f, useColor && f == output.Table, quiet)
	if f == output.Table && d.terminal(d.stdout) {
		d.printer.SetWidth(terminalWidth(d.stdout))
	}
	switch lf := strOr(c, flagLogFormat, d.getenv("FFDELAY_LOG_FORMAT")); lf {
	case "", "text":
	case "json":
		d.printer.SetLogger(slog.New(slog.NewJSONHandler(d.stderr, nil)))
	default:
		return usageError("--log-format %q: use text or json", lf)
	}
	return nil
}

// connOptions resolves the connection per the precedence of the contract:
// flag, then FFDELAY_*, then ff-server's FF_*, then defaults. It is three
// steps: where (addresses, database, cluster, TLS), who (user and
// password, with where the password came from, for -v) and how (timeout
// and TLS settings).
func connOptions(c *cli.Context, d *deps) (redisops.Options, error) {
	o, where, err := connTarget(c, d)
	if err != nil {
		return o, err
	}
	if where.urlPassword && where.urlOnCommandLine && d.printer != nil {
		d.printer.Warn("a password in --url is visible to other users of this machine (ps, shell history): use --password-file or FFDELAY_PASSWORD")
	}
	o.Username, o.Password, d.passwordSource, err = connCredentials(c, d, where)
	if err != nil {
		return o, err
	}
	if o.Timeout, err = parseDuration("--timeout", strOr(c, flagTimeout, "5s")); err != nil {
		return o, usageError("%v", err)
	}
	o.TLS, err = tlsConfig(c, where.tls)
	return o, err
}

// target is what connTarget found besides the options: the URL's
// credentials and whether TLS was asked for.
type targetFacts struct {
	user             string
	password         string
	urlPassword      bool
	urlOnCommandLine bool
	tls              bool
}

// connTarget is where to connect: --url (or FFDELAY_URL unless --host or
// --port is given), else --host/--port, FF_HOST/FF_PORT, localhost:6379;
// cluster mode from --cluster, FFDELAY_CLUSTER, FF_CLUSTER.
func connTarget(c *cli.Context, d *deps) (redisops.Options, targetFacts, error) {
	var o redisops.Options
	var f targetFacts
	urls := strs(c, flagURL)
	f.urlOnCommandLine = len(urls) > 0
	_, hostFlag := flagString(c, flagHost)
	_, portFlag := flagString(c, flagPort)
	switch {
	case len(urls) > 0 && (hostFlag || portFlag):
		return o, f, usageError("--url and --host/--port name two servers: give one or the other")
	case len(urls) == 0 && d.getenv("FFDELAY_URL") != "" && !hostFlag && !portFlag:
		// An explicit --host/--port on the command line wins over the
		// environment's URL: promote must write where the command says.
		urls = []string{d.getenv("FFDELAY_URL")}
	}
	var err error
	if cl, ok := boolean(c, flagCluster); ok {
		o.Cluster = cl
	} else if o.Cluster, err = envBool(d, "FFDELAY_CLUSTER", "FF_CLUSTER"); err != nil {
		return o, f, err
	}
	f.tls, _ = boolean(c, flagTLS)
	if len(urls) > 0 {
		t, err := parseURL(strings.Join(urls, ","))
		if err != nil {
			return o, f, usageError("%v", err)
		}
		if len(t.Addrs) > 1 && !o.Cluster {
			return o, f, usageError("several --url seeds given without --cluster: add --cluster or give one URL")
		}
		o.Addrs, o.DB = t.Addrs, t.DB
		f.user, f.password, f.urlPassword = t.User, t.Password, t.HasPassword
		f.tls = f.tls || t.TLS
	} else {
		host := strOr(c, flagHost, d.getenv("FF_HOST"))
		if host == "" {
			host = "localhost"
		}
		port := strOr(c, flagPort, d.getenv("FF_PORT"))
		if port == "" {
			port = "6379"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return o, f, usageError("--port %q is not a port number (1 to 65535)", port)
		}
		o.Addrs = []string{net.JoinHostPort(host, port)}
		if _, set := boolean(c, flagTLS); !set {
			if f.tls, err = envBool(d, "FF_TLS"); err != nil {
				return o, f, err
			}
		}
	}
	if o.Cluster && o.DB != 0 {
		return o, f, usageError("--url selects database %d, but cluster mode has only database 0", o.DB)
	}
	return o, f, nil
}

// connCredentials is who connects: --user, the URL's user, FFDELAY_USER;
// the password from --password-file, the URL, FFDELAY_PASSWORD,
// REDISCLI_AUTH, and the name of its source (never the password).
func connCredentials(c *cli.Context, d *deps, f targetFacts) (user, password, source string, err error) {
	user = f.user
	if u, ok := flagString(c, flagUser); ok {
		user = u
	} else if user == "" {
		user = d.getenv("FFDELAY_USER")
	}
	switch file, ok := flagString(c, flagPasswordFile); {
	case ok:
		pw, err := readPasswordFile(file, d)
		return user, pw, "--password-file " + file, err
	case f.urlPassword:
		return user, f.password, "the URL", nil
	case d.getenv("FFDELAY_PASSWORD") != "":
		return user, d.getenv("FFDELAY_PASSWORD"), "FFDELAY_PASSWORD", nil
	case d.getenv("REDISCLI_AUTH") != "":
		return user, d.getenv("REDISCLI_AUTH"), "REDISCLI_AUTH", nil
	}
	return user, "", "none", nil
}

// envBool reads the first of the variables that is set as a yes/no value:
// what strconv.ParseBool takes, and yes/no, on/off. Anything else is a
// usage error, never a silent false.
func envBool(d *deps, names ...string) (bool, error) {
	for _, name := range names {
		v := strings.TrimSpace(d.getenv(name))
		if v == "" {
			continue
		}
		b, ok := parseBoolEnv(v)
		if !ok {
			return false, usageError("%s=%q is not a yes/no value: use 1/0, true/false, yes/no or on/off", name, v)
		}
		return b, nil
	}
	return false, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// tlsConfig builds the TLS settings; any --tls-* flag implies TLS.
func tlsConfig(c *cli.Context, useTLS bool) (*tls.Config, error) {
	ca, _ := flagString(c, flagTLSCa)
	cert, _ := flagString(c, flagTLSCert)
	key, _ := flagString(c, flagTLSKey)
	name, _ := flagString(c, flagTLSServerName)
	skip, _ := boolean(c, flagTLSSkipVerify)
	if ca != "" || cert != "" || key != "" || name != "" || skip {
		useTLS = true
	}
	if skip && ca != "" {
		return nil, usageError("--tls-skip-verify and --tls-ca contradict each other: a CA is only used to verify; drop one")
	}
	if !useTLS {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name, InsecureSkipVerify: skip}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, usageError("--tls-ca: cannot read %s: %v", ca, unwrapPathError(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError("--tls-ca: %s holds no PEM certificate", ca)
		}
		conf.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, usageError("--tls-cert and --tls-key go together: give both for mutual TLS")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, usageError("cannot load client certificate %s / key %s: %v", cert, key, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// maxPasswordFile bounds a password file: a password is a line, not a
// file to stream.
const maxPasswordFile = 4096

// readPasswordFile reads the password from its one line. It refuses what is
// not a regular file (a FIFO would hang, a device never ends), a file over
// 4 KiB, more than one line and an empty password, and warns when group or
// others may read the file.
func readPasswordFile(path string, d *deps) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", usageError("--password-file: cannot read %s: %v", path, unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return "", usageError("--password-file %s is not a regular file (a FIFO or device is refused)", path)
	}
	if fi.Size() > maxPasswordFile {
		return "", usageError("--password-file %s is %d bytes: a password file holds one line (at most %d bytes)", path, fi.Size(), maxPasswordFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageError("--password-file: cannot read %s: %v", path, unwrapPathError(err))
	}
	line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case strings.ContainsAny(line, "\r\n"):
		return "", usageError("--password-file %s has more than one line: it must hold the password alone", path)
	case line == "":
		return "", usageError("--password-file %s is empty: put the password in it, or leave the flag out", path)
	}
	if fi.Mode().Perm()&0o077 != 0 && d.printer != nil {
		d.printer.Warn("--password-file %s can be read by group or others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	return line, nil
}
