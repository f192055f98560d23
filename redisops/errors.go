package redisops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Kind sorts server failures by what the user has to do about them.
type Kind int

const (
	// KindOther is any other error reply.
	KindOther Kind = iota
	// KindUnreachable: refused, reset, timed out, TLS handshake failed.
	KindUnreachable
	// KindAuth: wrong user or password, or none given.
	KindAuth
	// KindNoPerm: the ACL user may not run a command or touch a key.
	KindNoPerm
	// KindNoLibrary: the flowfabric function library is not loaded.
	KindNoLibrary
	// KindNoFunctions: the server predates FUNCTION/FCALL (Redis < 7).
	KindNoFunctions
	// KindNotRedis: the port answers, but not in the Redis protocol.
	KindNotRedis
	// KindTLSMismatch: TLS to a plaintext port, or the reverse.
	KindTLSMismatch
	// KindClusterNode: a cluster node reached without --cluster.
	KindClusterNode
	// KindConnSetup: the connection could not be set up (HELLO, AUTH or
	// SELECT refused: a database the server does not have, say).
	KindConnSetup
	// KindBadReply: a reply beyond ffdelay's limits (guard.go).
	KindBadReply
	// KindCertificate: the TLS handshake failed on a certificate: the
	// server's is not trusted (CA, name), or the server refused ours.
	KindCertificate
	// KindPartialWrite: ff_promote_delayed failed after it may have
	// written (a command inside it refused): the run stops at once.
	KindPartialWrite
	// KindRedirect: a MOVED or ASK reply without --cluster. ffdelay follows
	// no redirect to an address the user did not give: the credentials
	// would go with it.
	KindRedirect
	// KindLayoutChanged: a MOVED or ASK reply in cluster mode. ffdelay
	// follows no redirect (an FCALL must not run twice, and the address
	// may be outside the slot map): the run stops, and the next run or
	// watch cycle reads the new layout.
	KindLayoutChanged
)

// The error policy lives here, once, on Kind: what exit status a command
// that stops on an error of the kind ends with, whether a watch loop may
// retry it, and whether it means the server cannot be used at all. The
// commands ask; they keep no lists of kinds of their own (repo_test.go's
// TestOnePolicyHome holds them to it).

// exitUnusable and exitFailed are the contract's exit statuses
// (shared/spec/cli.md): 3, the server cannot be used as given; 1,
// something failed.
const (
	exitFailed   = 1
	exitUnusable = 3
)

// ExitStatus is the exit status of a command that stops on an error of
// kind k: 3 for every kind of server that cannot be used as given (lost,
// refusing, not ffdelay's to write to, answering beyond limits), 1 for any
// other error reply.
func (k Kind) ExitStatus() int {
	if k == KindOther {
		return exitFailed
	}
	return exitUnusable
}

// Permanent reports errors that retrying cannot fix: a watch loop stops on
// them (exit 3). The others (a lost server, a reply beyond limits, any
// other error reply) are retried with a growing delay; a cluster node
// reached without --cluster switches the loop to cluster mode.
func (k Kind) Permanent() bool {
	switch k {
	case KindAuth, KindNoPerm, KindNoLibrary, KindNoFunctions, KindNotRedis, KindTLSMismatch, KindConnSetup,
		KindRedirect, KindCertificate, KindPartialWrite:
		return true
	}
	return false
}

// Retryable is the opposite of Permanent: the next attempt may succeed.
func (k Kind) Retryable() bool { return !k.Permanent() }

// Unusable reports errors that mean the server could not be used at all,
// before any finding: check stops on them with one line (exit 3) instead of
// reporting failed checks. A refused command, a missing library or a
// partial write is a finding (a failed check, exit 1).
func (k Kind) Unusable() bool {
	switch k {
	case KindUnreachable, KindAuth, KindNotRedis, KindTLSMismatch, KindConnSetup, KindRedirect, KindBadReply,
		KindClusterNode, KindCertificate:
		return true
	}
	return false
}

// ServerError is a failure talking to one server, with its kind.
type ServerError struct {
	Addr string
	Kind Kind
	Err  error
}

func (e *ServerError) Error() string {
	msg := strings.TrimSpace(e.Err.Error())
	switch e.Kind {
	case KindUnreachable:
		return "cannot reach " + e.Addr + ": " + msg + " (check --url/--host/--port, TLS flags and that the server is up)"
	case KindAuth:
		if strings.HasPrefix(msg, "NOAUTH") {
			return e.Addr + " needs a password, and none was given (" + msg + "): give it with --password-file FILE, FFDELAY_PASSWORD or REDISCLI_AUTH (or in --url, redis://user:password@host), and --user for an ACL user"
		}
		return "authentication refused by " + e.Addr + ": " + msg + " (check --user and the password source)"
	case KindNoPerm:
		if strings.Contains(msg, "grant ") {
			return "permission denied on " + e.Addr + ": " + msg
		}
		if rule := aclRuleFor(msg); rule != "" {
			return "permission denied on " + e.Addr + ": " + msg + " (grant " + rule + " to this user; the README's ACL section lists every rule)"
		}
		return "permission denied on " + e.Addr + ": " + msg + " (grant the ACL rules listed in the README)"
	case KindCertificate:
		if strings.Contains(msg, "remote error") {
			return e.Addr + " refused the TLS handshake (" + msg + "): it wants a client certificate ffdelay did not give or it does not trust (--tls-cert and --tls-key)"
		}
		return "TLS certificate of " + e.Addr + " not trusted: " + msg + " (--tls-ca names the CA that signed it; --tls-server-name the name it carries)"
	case KindNotRedis, KindTLSMismatch, KindBadReply:
		return e.Addr + ": " + msg
	case KindPartialWrite:
		return e.Addr + ": " + msg
	case KindRedirect:
		return e.Addr + " answered with a cluster redirect (" + msg + "): it is part of a cluster, and ffdelay follows no redirect without --cluster; pass --cluster"
	case KindConnSetup:
		return "cannot set up a connection to " + e.Addr + ": " + msg + " (check the database number in --url, the user and the password)"
	}
	return e.Addr + ": " + msg
}

func (e *ServerError) Unwrap() error { return e.Err }

// KindOf reports the kind of err; KindOther when it is not a ServerError.
func KindOf(err error) Kind {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Kind
	}
	return kindOf(err)
}

func kindOf(err error) Kind {
	if err == nil {
		return KindOther
	}
	var se *ServerError
	if errors.As(err, &se) {
		return se.Kind
	}
	if redis.IsAuthError(err) || hasPrefix(err, "WRONGPASS") || hasPrefix(err, "NOAUTH") {
		return KindAuth
	}
	if redis.IsPermissionError(err) || hasPrefix(err, "NOPERM") {
		return KindNoPerm
	}
	if errors.Is(err, errReplyTooLarge) {
		return KindBadReply
	}
	var pw *partialWriteError
	if errors.As(err, &pw) {
		return KindPartialWrite
	}
	if hasPrefix(err, "MOVED ") || hasPrefix(err, "ASK ") {
		return KindRedirect
	}
	if isCertificateError(err) {
		return KindCertificate
	}
	if isProtocolError(err) {
		return KindNotRedis
	}
	if isConnectionError(err) {
		return KindUnreachable
	}
	return KindOther
}

func hasPrefix(err error, p string) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), p)
}

// isConnectionError reports errors that mean the server is gone or silent,
// as opposed to an error reply from a live server.
func isConnectionError(err error) bool {
	var re redis.Error
	if errors.As(err, &re) {
		// A live server answering "the cluster is down" or "loading" is as
		// unusable as a dead one, and the cure is the same: wait, retry.
		s := re.Error()
		return strings.HasPrefix(s, "CLUSTERDOWN") || strings.HasPrefix(s, "LOADING") || strings.HasPrefix(s, "TRYAGAIN") || strings.HasPrefix(s, "MASTERDOWN")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "tls:") || strings.Contains(s, "x509:") || strings.Contains(s, "connection reset") ||
		strings.Contains(s, "broken pipe") || strings.Contains(s, "i/o timeout") || strings.Contains(s, "connection refused") ||
		strings.Contains(s, "all sentinels") || strings.Contains(s, "redis: client is closed")
}

// isCertificateError reports a TLS handshake that failed on a certificate:
// one ffdelay does not trust, or its own that the server refused.
func isCertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "tls: certificate required") || strings.Contains(s, "tls: bad certificate") ||
		strings.Contains(s, "tls: unknown certificate authority") || strings.Contains(s, "x509: ")
}

// noPermCommand finds the command a NOPERM reply names.
var noPermCommand = regexp.MustCompile(`run the '([a-z|_-]+)' command`)

// aclRuleFor is the ACL rule that lifts a NOPERM refusal: +cmd for a
// command, ~pattern for keys; "" when the reply names neither.
func aclRuleFor(msg string) string {
	if m := noPermCommand.FindStringSubmatch(strings.ToLower(msg)); m != nil {
		return "+" + m[1]
	}
	if strings.Contains(strings.ToLower(msg), "access one of the keys") {
		return "the key pattern (~ff:* for FlowFabric's keys)"
	}
	return ""
}

// Fate is what an error says about whether the command it came back for
// ran on the server. It is decided here alone: PromoteBatch's outcome words,
// a repair's and the watch loop's counters all follow from it.
type Fate int

const (
	// Ran: a reply came (an error reply from inside the function
	// included): the outcome is in the reply.
	Ran Fate = iota
	// NotRun: the server refused the command before running it (LOADING,
	// TRYAGAIN, MOVED, ASK, NOPERM, CLUSTERDOWN, a missing function...),
	// or it was never sent (no connection): nothing was written.
	NotRun
	// MayHaveRun: the command was written, or may have been, and its
	// reply was lost (connection cut, timed out, unreadable).
	MayHaveRun
)

// refusedBeforeRun are the error codes with which a server refuses a
// command without running any of it. The same codes raised by a command
// inside a function come back with " script:" in the text: the function
// ran up to there.
var refusedBeforeRun = []string{"LOADING", "TRYAGAIN", "MOVED", "ASK", "NOPERM", "CLUSTERDOWN", "MASTERDOWN",
	"BUSY", "NOSCRIPT", "OOM", "READONLY", "MISCONF", "NOREPLICAS", "NOAUTH", "WRONGPASS", "CROSSSLOT", "EXECABORT"}

// FateOf tells, from the error a command came back with, whether it ran.
func FateOf(err error) Fate {
	if err == nil || errNil(err) {
		return Ran
	}
	if isNotWritten(err) {
		// The request never left ffdelay: a dial, a handshake or the
		// connection's set-up failed first (connlife.go).
		return NotRun
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		if isMissingFunction(err) {
			return NotRun
		}
		if strings.Contains(msg, " script:") || strings.Contains(msg, "@user_function") {
			return Ran
		}
		code, _, _ := strings.Cut(msg, " ")
		for _, c := range refusedBeforeRun {
			if code == c {
				return NotRun
			}
		}
		return Ran
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return NotRun
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) {
		// No connection was handed out, or the client was closed before
		// the command was written.
		return NotRun
	}
	switch KindOf(err) {
	case KindConnSetup, KindAuth, KindNoPerm, KindRedirect, KindLayoutChanged, KindCertificate, KindTLSMismatch:
		return NotRun
	}
	return MayHaveRun
}

// isMissingFunction reports the server's answer to an FCALL of a function
// it does not have.
func isMissingFunction(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Function not found") || strings.HasPrefix(s, "NOSCRIPT") || strings.Contains(s, "unknown function")
}
