package redisops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// replyError is an error reply as go-redis hands it over.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

// TestFateOf holds the one rule that decides whether a command ran to the
// server's replies and to the ways a connection fails.
func TestFateOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Fate
	}{
		{nil, Ran},
		{redis.Nil, Ran},
		{replyError("ERR user_function:39: attempt to compare number with nil"), Ran},
		{replyError("ERR ACL failure in script: User u has no permissions to run the 'exists' command script: ff_promote_delayed, on @user_function:24."), Ran},
		{replyError("ERR The user executing the script can't run this command or subcommand script: ff_promote_delayed, on @user_function:24."), Ran},
		{replyError("OOM command not allowed when used memory > 'maxmemory'. script: ff_promote_delayed, on @user_function:30."), Ran},
		{replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), Ran},
		{replyError("LOADING Redis is loading the dataset in memory"), NotRun},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), NotRun},
		{replyError("MOVED 1234 127.0.0.1:7001"), NotRun},
		{replyError("ASK 1234 127.0.0.1:7001"), NotRun},
		{replyError("NOPERM this user has no permissions to run the 'fcall' command"), NotRun},
		{replyError("CLUSTERDOWN The cluster is down"), NotRun},
		{replyError("MASTERDOWN Link with MASTER is down"), NotRun},
		{replyError("BUSY Redis is busy running a script."), NotRun},
		{replyError("OOM command not allowed when used memory > 'maxmemory'."), NotRun},
		{replyError("READONLY You can't write against a read only replica."), NotRun},
		{replyError("ERR Function not found"), NotRun},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, NotRun},
		{redis.ErrPoolTimeout, NotRun},
		{redis.ErrClosed, NotRun},
		{&ServerError{Kind: KindConnSetup, Err: replyError("NOAUTH Authentication required.")}, NotRun},
		{io.EOF, MayHaveRun},
		{io.ErrUnexpectedEOF, MayHaveRun},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, MayHaveRun},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), MayHaveRun},
		{errReplyTooLarge, MayHaveRun},
		{&ServerError{Kind: KindUnreachable, Err: io.EOF}, MayHaveRun},
		{errors.New("something nobody foresaw"), MayHaveRun},
	} {
		if got := FateOf(tc.err); got != tc.want {
			t.Errorf("FateOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
