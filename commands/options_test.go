package commands

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffdelay/redisops"
	"github.com/urfave/cli/v2"
)

// parseAs runs command's flag parsing on args with env, without a server:
// fn replaces the command's Action and sees the parsed context.
func parseAs(t *testing.T, command string, args []string, env map[string]string, fn func(c *cli.Context, d *deps) error) error {
	t.Helper()
	d := &deps{stdout: io.Discard, stderr: io.Discard, env: env, terminal: func(io.Writer) bool { return false }}
	app := newApp(context.Background(), d)
	found := false
	for _, c := range app.Commands {
		if c.Name == command {
			found = true
			c.Action = func(c *cli.Context) error {
				if err := setupOutput(c, d); err != nil {
					return err
				}
				return fn(c, d)
			}
		}
	}
	if !found {
		t.Fatalf("no command %s", command)
	}
	return app.RunContext(context.Background(), reorderArgs(app, append([]string{"ffdelay", command}, args...)))
}

// The connection's precedence: flag, then FFDELAY_*, then ff-server's
// FF_*, then defaults; and where the password came from.
func TestConnOptionsPrecedence(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type want struct {
		addrs    []string
		cluster  bool
		db       int
		user     string
		password string
		source   string
		tls      bool
	}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    want
		wantErr string
	}{
		{"defaults", nil, nil, want{addrs: []string{"localhost:6379"}, source: "none"}, ""},
		{"ff-server's host and port", nil, map[string]string{"FF_HOST": "10.0.0.5", "FF_PORT": "7000"},
			want{addrs: []string{"10.0.0.5:7000"}, source: "none"}, ""},
		{"FFDELAY_URL over FF_HOST", nil, map[string]string{"FFDELAY_URL": "redis://u:p@a:1/2", "FF_HOST": "b"},
			want{addrs: []string{"a:1"}, db: 2, user: "u", password: "p", source: "the URL"}, ""},
		{"--host over FFDELAY_URL", []string{"--host", "c"}, map[string]string{"FFDELAY_URL": "redis://a:1"},
			want{addrs: []string{"c:6379"}, source: "none"}, ""},
		{"--url over FFDELAY_URL", []string{"--url", "rediss://d:2"}, map[string]string{"FFDELAY_URL": "redis://a:1"},
			want{addrs: []string{"d:2"}, tls: true, source: "none"}, ""},
		{"--url with --host", []string{"--url", "redis://a:1", "--host", "b"}, nil, want{}, "name two servers"},
		{"--password-file over the URL's", []string{"--url", "redis://u:p@a:1", "--password-file", pwFile}, nil,
			want{addrs: []string{"a:1"}, user: "u", password: "from-file", source: "--password-file " + pwFile}, ""},
		{"the URL's over FFDELAY_PASSWORD", []string{"--url", "redis://:p@a:1"}, map[string]string{"FFDELAY_PASSWORD": "env"},
			want{addrs: []string{"a:1"}, password: "p", source: "the URL"}, ""},
		{"FFDELAY_PASSWORD over REDISCLI_AUTH", nil, map[string]string{"FFDELAY_PASSWORD": "env", "REDISCLI_AUTH": "cli"},
			want{addrs: []string{"localhost:6379"}, password: "env", source: "FFDELAY_PASSWORD"}, ""},
		{"REDISCLI_AUTH last", nil, map[string]string{"REDISCLI_AUTH": "cli"},
			want{addrs: []string{"localhost:6379"}, password: "cli", source: "REDISCLI_AUTH"}, ""},
		{"--user over the URL's over FFDELAY_USER", []string{"--url", "redis://u@a:1", "--user", "flag"}, map[string]string{"FFDELAY_USER": "env"},
			want{addrs: []string{"a:1"}, user: "flag", source: "none"}, ""},
		{"FFDELAY_USER without one in the URL", nil, map[string]string{"FFDELAY_USER": "env"},
			want{addrs: []string{"localhost:6379"}, user: "env", source: "none"}, ""},
		{"FFDELAY_CLUSTER over FF_CLUSTER", nil, map[string]string{"FFDELAY_CLUSTER": "yes", "FF_CLUSTER": "0"},
			want{addrs: []string{"localhost:6379"}, cluster: true, source: "none"}, ""},
		{"FF_CLUSTER", nil, map[string]string{"FF_CLUSTER": "true"}, want{addrs: []string{"localhost:6379"}, cluster: true, source: "none"}, ""},
		{"--cluster=false over FFDELAY_CLUSTER", []string{"--cluster=false"}, map[string]string{"FFDELAY_CLUSTER": "1"},
			want{addrs: []string{"localhost:6379"}, source: "none"}, ""},
		{"a yes/no variable that is neither", nil, map[string]string{"FFDELAY_CLUSTER": "maybe"}, want{}, `FFDELAY_CLUSTER="maybe" is not a yes/no value`},
		{"FF_TLS", nil, map[string]string{"FF_TLS": "on"}, want{addrs: []string{"localhost:6379"}, tls: true, source: "none"}, ""},
		{"--tls=false over FF_TLS", []string{"--tls=false"}, map[string]string{"FF_TLS": "1"}, want{addrs: []string{"localhost:6379"}, source: "none"}, ""},
		{"several seeds without --cluster", []string{"--url", "redis://a:1,redis://b:2"}, nil, want{}, "without --cluster"},
		{"a database in cluster mode", []string{"--url", "redis://a:1/3", "--cluster"}, nil, want{}, "only database 0"},
		{"a bad port", []string{"--port", "0"}, nil, want{}, "not a port number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = map[string]string{}
			}
			var got redisops.Options
			var source string
			err := parseAs(t, "list", tc.args, env, func(c *cli.Context, d *deps) error {
				o, err := connOptions(c, d)
				got, source = o, d.passwordSource
				return err
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := want{addrs: got.Addrs, cluster: got.Cluster, db: got.DB, user: got.Username, password: got.Password, source: source, tls: got.TLS != nil}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got %+v, want %+v", g, tc.want)
			}
		})
	}
}

// promote's own options: the watch interval's sources and floor, and the
// flags that only make sense together.
func TestParsePromoteOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, o promoteOptions)
		wantErr string
	}{
		{"defaults", nil, nil, func(t *testing.T, o promoteOptions) {
			if o.Watch || o.Run.DryRun || o.Run.Repair || o.Interval != 750*time.Millisecond || o.Run.MaxStall != time.Millisecond {
				t.Errorf("%+v", o)
			}
		}, ""},
		{"the engine's interval variable", []string{"--watch"}, map[string]string{"FF_DELAYED_PROMOTER_INTERVAL_MS": "250"}, func(t *testing.T, o promoteOptions) {
			if o.Interval != 250*time.Millisecond {
				t.Errorf("interval %s", o.Interval)
			}
		}, ""},
		{"--interval over the variable", []string{"--watch", "--interval", "2s"}, map[string]string{"FF_DELAYED_PROMOTER_INTERVAL_MS": "250"}, func(t *testing.T, o promoteOptions) {
			if o.Interval != 2*time.Second {
				t.Errorf("interval %s", o.Interval)
			}
		}, ""},
		{"an interval below the floor is raised", []string{"--watch", "--interval", "10ms"}, nil, func(t *testing.T, o promoteOptions) {
			if o.Interval != minInterval || !o.IntervalRaised {
				t.Errorf("interval %s raised %v", o.Interval, o.IntervalRaised)
			}
		}, ""},
		{"FFDELAY_LISTEN with --watch", []string{"--watch"}, map[string]string{"FFDELAY_LISTEN": "127.0.0.1:9465"}, func(t *testing.T, o promoteOptions) {
			if o.Listen != "127.0.0.1:9465" {
				t.Errorf("listen %q", o.Listen)
			}
		}, ""},
		{"FFDELAY_LISTEN without --watch is ignored", nil, map[string]string{"FFDELAY_LISTEN": "127.0.0.1:9465"}, func(t *testing.T, o promoteOptions) {
			if o.Listen != "" {
				t.Errorf("listen %q", o.Listen)
			}
		}, ""},
		{"filters and repair", []string{"--dry-run", "--repair", "--namespace", "acme", "--tag", "k=v"}, nil, func(t *testing.T, o promoteOptions) {
			if !o.Run.DryRun || !o.Run.Repair || o.Run.Namespace != "acme" || len(o.Run.Tags) != 1 {
				t.Errorf("%+v", o.Run)
			}
		}, ""},
		{"--interval without --watch", []string{"--interval", "1s"}, nil, nil, "only apply with --watch"},
		{"--listen without --watch", []string{"--listen", "127.0.0.1:0"}, nil, nil, "add --watch"},
		{"a bad engine interval", []string{"--watch"}, map[string]string{"FF_DELAYED_PROMOTER_INTERVAL_MS": "soon"}, nil, "positive number of milliseconds"},
		{"an empty namespace", []string{"--namespace", ""}, nil, nil, "--namespace is empty"},
		{"--max-cycles 0", []string{"--watch", "--max-cycles", "0"}, nil, nil, "--max-cycles"},
		{"--pipelines 9", []string{"--pipelines", "9"}, nil, nil, "1 to 8"},
		{"an argument", []string{"now"}, nil, nil, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = map[string]string{}
			}
			var got promoteOptions
			err := parseAs(t, "promote", tc.args, env, func(c *cli.Context, d *deps) error {
				o, err := parsePromoteOptions(c, d)
				got = o
				return err
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
}
