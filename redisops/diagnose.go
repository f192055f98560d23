package redisops

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"
)

// probeTimeout bounds each raw probe of a server that did not answer.
const probeTimeout = 2 * time.Second

// Diagnose explains a failure to talk to addr, in the contract's order:
// unreachable, not a Redis/Valkey server, TLS mismatch. It returns err
// unchanged when the probes find nothing more precise (the server is
// there, speaks RESP over the transport we used, and simply failed).
func Diagnose(ctx context.Context, opts Options, addr string, err error) error {
	if k := KindOf(err); k == KindAuth || k == KindNoPerm || k == KindNoLibrary || k == KindNoFunctions || k == KindNotRedis || k == KindTLSMismatch {
		return err
	}
	timeout := probeTimeout
	if opts.Timeout > 0 {
		timeout = min(opts.Timeout, probeTimeout)
	}
	d := net.Dialer{Timeout: timeout}
	conn, derr := d.DialContext(ctx, "tcp", addr)
	if derr != nil {
		return &ServerError{Addr: addr, Kind: KindUnreachable, Err: derr}
	}
	conn.Close()
	plain := probePlain(ctx, addr, timeout)
	if opts.TLS != nil {
		if plain == probeRESP {
			return &ServerError{Addr: addr, Kind: KindTLSMismatch,
				Err: errors.New("TLS was asked for (rediss://, --tls or a --tls-* flag), but the server answers without TLS on this port: use redis:// and no TLS flags, or its TLS port")}
		}
		if alert := probeClientCert(ctx, addr, opts.TLS, timeout); alert != nil {
			// With TLS 1.3 a server that wants a client certificate
			// refuses after the handshake: the first write or read sees a
			// reset, and only a probe reads the alert that says why.
			return &ServerError{Addr: addr, Kind: KindCertificate, Err: alert}
		}
		return err
	}
	switch plain {
	case probeOther:
		return &ServerError{Addr: addr, Kind: KindNotRedis, Err: errNotRedis}
	case probeSilent:
		if probeTLS(ctx, addr, timeout) {
			return &ServerError{Addr: addr, Kind: KindTLSMismatch,
				Err: errors.New("this port speaks TLS: use rediss:// or --tls (with --tls-ca for a private CA)")}
		}
	}
	return err
}

type probeResult int

const (
	probeSilent probeResult = iota // no answer, or the connection closed
	probeRESP                      // a RESP reply
	probeOther                     // bytes that are not RESP
)

// probePlain sends an inline PING without TLS and looks at the first byte
// of the answer. Nothing is printed from it: the bytes are untrusted.
func probePlain(ctx context.Context, addr string, timeout time.Duration) probeResult {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return probeSilent
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return probeSilent
	}
	b, err := bufio.NewReader(conn).ReadByte()
	if err != nil {
		return probeSilent
	}
	switch b {
	case '+', '-', ':', '$', '*', '%', '>', '_', '#', ',', '(', '=', '!', '~', '|':
		return probeRESP
	}
	return probeOther
}

// probeTLS reports whether the port completes a TLS handshake. It does not
// verify the certificate: it only asks whether the port speaks TLS, and
// sends nothing after the handshake.
func probeTLS(ctx context.Context, addr string, timeout time.Duration) bool {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(cctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// probeClientCert completes a handshake with ffdelay's own TLS settings,
// sends a PING and returns the TLS alert the server answers with, if it
// refuses the client's certificate (or its absence).
func probeClientCert(ctx context.Context, addr string, conf *tls.Config, timeout time.Duration) error {
	c := conf.Clone()
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: c}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(cctx, "tcp", addr)
	if err != nil {
		if isCertificateError(err) {
			return err
		}
		return nil
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	conn.Write([]byte("PING\r\n"))
	if _, err := bufio.NewReader(conn).ReadByte(); err != nil && isCertificateError(err) {
		return err
	}
	return nil
}

// isProtocolError reports a reply go-redis could not parse: the peer is not
// speaking RESP.
func isProtocolError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "redis: invalid reply") || strings.HasPrefix(s, "redis: can't parse") ||
		strings.Contains(s, "got an unexpected reply type") || strings.HasPrefix(s, "redis: unexpected reply")
}
