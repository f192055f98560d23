package model

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// LuaNumber reads s as the Lua 5.1 of Valkey and Redis reads it with
// tonumber: C's strtod (decimal, exponent, inf, infinity and nan in any
// case, hexadecimal with 0x), with spaces allowed around it. A value too
// large for a double is ±inf, as strtod makes it (so "-1e400" is -inf, not
// an error); ok is false where tonumber gives nil (empty, garbage, trailing
// characters).
func LuaNumber(s string) (float64, bool) {
	if f, ok := plainInteger(s); ok {
		// What cores hold almost always: milliseconds, a priority.
		return f, true
	}
	t := strings.TrimFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\n\v\f\r", r) })
	if t == "" || strings.ContainsAny(t, "_") {
		return 0, false
	}
	body, neg := t, false
	if body[0] == '+' || body[0] == '-' {
		body, neg = body[1:], body[0] == '-'
	}
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		// strtod reads hexadecimal (with an optional p exponent); Go
		// wants the exponent.
		if !strings.ContainsAny(body, "pP") {
			body += "p0"
		}
		f, err := strconv.ParseFloat("0x"+body[2:], 64)
		if err != nil && !isRange(err) {
			return 0, false
		}
		if neg {
			f = -f
		}
		return f, true
	}
	if strings.HasPrefix(strings.ToLower(body), "nan") {
		// strtod takes nan and nan(chars); tonumber then wants nothing after.
		if rest := body[3:]; rest == "" || (strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")")) {
			return math.NaN(), true
		}
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil && !isRange(err) {
		return 0, false
	}
	return f, true
}

// plainInteger reads an optional minus and 1 to 15 decimal digits, which
// a double holds exactly and strtod reads the same way.
func plainInteger(s string) (float64, bool) {
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		d := digits[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	if len(digits) < len(s) {
		n = -n
		if n == 0 {
			// -0 is a double of its own.
			return math.Copysign(0, -1), true
		}
	}
	return float64(n), true
}

func isRange(err error) bool {
	var ne *strconv.NumError
	return errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange)
}

// LuaField is a core field as FlowFabric's Lua reads it with
// tonumber(core.field or "0"): a missing field counts as 0.
func LuaField(value string, present bool) (float64, bool) {
	if !present {
		return 0, true
	}
	return LuaNumber(value)
}

// PromoteScore is the eligible score ff_promote_delayed and
// ff_create_execution write: 0 - priority*1e12 + created_at, each read with
// tonumber (missing counts as 0). fault names the field that keeps it from
// being a score ZADD takes: one tonumber reads as nil (a Lua error), or a
// result that is not a number (nan); "" when the score is good.
func PromoteScore(priority string, priorityPresent bool, createdAt string, createdAtPresent bool) (score float64, fault string) {
	p, ok := LuaField(priority, priorityPresent)
	if !ok {
		return 0, "priority " + strconv.Quote(priority) + " is not a number"
	}
	c, ok := LuaField(createdAt, createdAtPresent)
	if !ok {
		return 0, "created_at " + strconv.Quote(createdAt) + " is not a number"
	}
	score = 0 - p*1e12 + c
	if math.IsNaN(score) {
		return 0, "priority " + strconv.Quote(priority) + " and created_at " + strconv.Quote(createdAt) + " make a score that is not a number"
	}
	return score, ""
}
