package redisops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// probeMember is a member no FlowFabric set holds: the probes below name it
// so that, even run for real, they would change nothing.
const probeMember = "ffdelay:permission-probe"

// Permissions is what a user may do on one primary, as far as the probe
// could tell without writing.
type Permissions struct {
	Addr string
	// Missing are the commands refused, as ACL rules (+hset, +zadd, ...).
	Missing []string
	// FCall is false when the user may not run FCALL at all (a read-only
	// user: it cannot promote, and cannot half-write either).
	FCall bool
	// Unverified names commands the probe could not test (HSET has no
	// write-free form without MULTI).
	Unverified []string
}

// ProbePermissions finds out, without writing, whether the user may run
// what ff_promote_delayed runs inside (HSET on the core, ZREM on the
// delayed set, ZADD on the eligible set, on the keys of partition p and
// lane), and with repair what a repair adds (WATCH, MULTI). A function is
// not atomic when a command inside it is refused: its earlier writes stay,
// so this is asked before the first FCALL.
//
// The commands are queued inside MULTI, where the server checks each
// command's ACL when it queues it, and then DISCARDed: nothing runs. A user
// who may not run MULTI gets the write-free forms where there are some:
// ZREM of a member that is not there and ZADD XX of one.
//
// The answer is kept for the client's life (commands are refused or not
// whatever keys they name; keys named by an FCALL are checked before it
// runs): a watch loop asks once per connection, not every cycle, and asks
// again after a NOPERM (ForgetPermissions).
func (c *Client) ProbePermissions(ctx context.Context, sh *Shard, p int, lane string, repair bool) (Permissions, error) {
	key := fmt.Sprintf("%s|%v", sh.addr, repair)
	if v, ok := c.perms.Load(key); ok {
		return v.(Permissions), nil
	}
	perms, err := c.probePermissions(ctx, sh, p, lane, repair)
	if err == nil {
		c.perms.Store(key, perms)
	}
	return perms, err
}

// ForgetPermissions drops what the probe found on sh's primary: the next
// run there asks again (after a NOPERM, the ACL has changed).
func (c *Client) ForgetPermissions(sh *Shard) {
	c.perms.Delete(sh.addr + "|true")
	c.perms.Delete(sh.addr + "|false")
}

func (c *Client) probePermissions(ctx context.Context, sh *Shard, p int, lane string, repair bool) (Permissions, error) {
	perms := Permissions{Addr: sh.addr, FCall: true}
	// A connection of its own, closed afterwards: a MULTI the user may
	// start but not DISCARD must never go back to the pool, where the
	// next FCALL would be queued instead of run.
	o := *sh.node.Options()
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxRetries = 1, 0, 0, -1
	// The probe writes nothing (its MULTI is DISCARDed): the write gate
	// (a standby's lease) is not asked.
	o.Dialer = guardedDialer(c.opts.Timeout, c.opts.TLS, nil)
	conn := redis.NewClient(&o)
	defer conn.Close()
	core, delayed, eligible := CoreKey(p, probeID(p)), DelayedKey(p, lane), EligibleKey(p, lane)
	refused := func(err error, rule string) (bool, error) {
		switch {
		case err == nil || errNil(err):
			return false, nil
		case kindOf(err) == KindNoPerm || strings.Contains(err.Error(), "NOPERM"):
			perms.Missing = append(perms.Missing, rule)
			return true, nil
		case kindOf(err) != KindOther:
			return false, c.wrap(sh.addr, err)
		}
		return false, nil
	}
	// WATCH (for a repair) and MULTI go out in one pipeline: neither
	// writes, and what follows is only sent once MULTI's answer is known.
	var watch, multi *redis.Cmd
	_, perr := conn.Pipelined(ctx, func(pl redis.Pipeliner) error {
		if repair {
			watch = pl.Do(ctx, "WATCH", core)
			pl.Do(ctx, "UNWATCH")
		}
		multi = pl.Do(ctx, "MULTI")
		return nil
	})
	if perr != nil && !errNil(perr) && kindOf(perr) != KindOther && kindOf(perr) != KindNoPerm {
		return perms, c.wrap(sh.addr, perr)
	}
	if watch != nil {
		if _, err := refused(watch.Err(), "+watch"); err != nil {
			return perms, err
		}
	}
	multiRefused, err := refused(multi.Err(), "+multi")
	if err != nil {
		return perms, err
	}
	if !repair && multiRefused {
		// Promotion does not need MULTI: only the probe would have used it.
		perms.Missing = perms.Missing[:len(perms.Missing)-1]
	}
	if multiRefused {
		// refused records into perms: the same variable, through a pointer.
		err := probeWithoutMulti(ctx, conn, &perms, refused, delayed, eligible)
		return perms, err
	}
	// Inside MULTI each command is checked as it is queued, then DISCARD
	// drops them all.
	var fcall, hset, zrem, zadd *redis.Cmd
	_, perr = conn.Pipelined(ctx, func(pl redis.Pipeliner) error {
		fcall = pl.Do(ctx, "FCALL", "ff_version", 0)
		hset = pl.Do(ctx, "HSET", core, "ffdelay_probe", "1")
		zrem = pl.Do(ctx, "ZREM", delayed, probeMember)
		zadd = pl.Do(ctx, "ZADD", eligible, "XX", 0, probeMember)
		// An unknown command fails as it is queued, so the transaction
		// is aborted whatever ends it: DISCARD, or EXEC for a user who
		// may not DISCARD.
		pl.Do(ctx, "FFDELAY-NO-SUCH-COMMAND")
		pl.Do(ctx, "DISCARD")
		pl.Do(ctx, "EXEC")
		return nil
	})
	if perr != nil && !errNil(perr) && kindOf(perr) != KindOther && kindOf(perr) != KindNoPerm {
		return perms, c.wrap(sh.addr, perr)
	}
	for _, q := range []struct {
		cmd  *redis.Cmd
		rule string
	}{{fcall, "+fcall"}, {hset, "+hset"}, {zrem, "+zrem"}, {zadd, "+zadd"}} {
		no, err := refused(q.cmd.Err(), q.rule)
		if err != nil {
			return perms, err
		}
		if no && q.rule == "+fcall" {
			perms.FCall = false
		}
	}
	return perms, nil
}

// probeWithoutMulti probes a user who may not run MULTI: FCALL ff_version
// (it writes nothing) tells whether FCALL is allowed at all, and ZREM and
// ZADD XX of a member no set holds are the write-free forms; HSET has none.
// refused records what the server refused into *perms.
func probeWithoutMulti(ctx context.Context, conn *redis.Client, perms *Permissions, refused func(error, string) (bool, error), delayed, eligible string) error {
	if no, err := refused(conn.Do(ctx, "FCALL", "ff_version", 0).Err(), "+fcall"); err != nil {
		return err
	} else if no {
		perms.FCall = false
	}
	// The write-free forms: no member to remove, none to update.
	if _, err := refused(conn.ZRem(ctx, delayed, probeMember).Err(), "+zrem"); err != nil {
		return err
	}
	if _, err := refused(conn.ZAddXX(ctx, eligible, redis.Z{Score: 0, Member: probeMember}).Err(), "+zadd"); err != nil {
		return err
	}
	perms.Unverified = append(perms.Unverified, "+hset")
	return nil
}

// probeID is an execution id of partition p that FlowFabric never mints
// (its uuid is all zeros but for the variant), for the probe's core key.
func probeID(p int) string {
	return fmt.Sprintf("{fp:%d}:00000000-0000-4000-8000-0000ffde1a7e", p)
}

// RequireWrite fails with one line naming the rules that are missing for
// ff_promote_delayed (a repair's +watch and +multi are not: without them
// the repairable shapes stay needs_repair).
func (perms Permissions) RequireWrite() error {
	var need []string
	for _, m := range perms.Missing {
		if m != "+watch" && m != "+multi" {
			need = append(need, m)
		}
	}
	if len(need) == 0 {
		return nil
	}
	return &ServerError{Addr: perms.Addr, Kind: KindNoPerm, Err: errors.New("this user may not run " + strings.Join(need, " ") +
		" on FlowFabric's keys, which ff_promote_delayed runs inside (it is not atomic when one is refused: an execution would be left in no set); nothing was written: grant " +
		strings.Join(need, " ") + " (the README's ACL section lists every rule)")}
}
