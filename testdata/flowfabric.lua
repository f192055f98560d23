#!lua name=flowfabric
-- Test fixture: a function library named flowfabric, written for ffdelay's
-- tests from the contract in shared/spec/flowfabric.md. It is not
-- FlowFabric's own library.

local FF_VERSION = '15'

local function ok(outcome)
  return {1, 'OK', outcome}
end

redis.register_function('ff_version', function(keys, args)
  return FF_VERSION
end)

-- FCALL ff_promote_delayed 3 <core> <delayed> <eligible> <execution_id> <now_ms>
redis.register_function('ff_promote_delayed', function(keys, args)
  local core_key, delayed_key, eligible_key = keys[1], keys[2], keys[3]
  local execution_id = args[1]
  local now_ms = tonumber(args[2])
  if now_ms == nil then
    return {0, 'invalid_input', 'now_ms must be a number, got: ' .. tostring(args[2])}
  end
  if redis.call('EXISTS', core_key) == 0 then
    redis.call('ZREM', delayed_key, execution_id)
    return ok('not_found_cleaned')
  end
  local f = redis.call('HMGET', core_key, 'lifecycle_phase', 'eligibility_state', 'delay_until', 'priority', 'created_at')
  if f[1] ~= 'runnable' then
    redis.call('ZREM', delayed_key, execution_id)
    return ok('not_runnable_cleaned')
  end
  if f[2] ~= 'not_eligible_until_time' then
    redis.call('ZREM', delayed_key, execution_id)
    return ok('not_delayed_cleaned')
  end
  -- A missing or empty delay_until makes this comparison a Lua runtime
  -- error, as in FlowFabric.
  if tonumber(f[3]) > now_ms then
    return ok('not_yet_due')
  end
  local now = args[2]
  redis.call('HSET', core_key,
    'lifecycle_phase', 'runnable',
    'ownership_state', 'unowned',
    'eligibility_state', 'eligible_now',
    'blocking_reason', 'waiting_for_worker',
    'blocking_detail', '',
    'terminal_outcome', 'none',
    'public_state', 'waiting',
    'delay_until', '',
    'last_transition_at', now,
    'last_mutation_at', now)
  local priority = tonumber(f[4]) or 0
  local created_at = tonumber(f[5]) or 0
  redis.call('ZREM', delayed_key, execution_id)
  redis.call('ZADD', eligible_key, 0 - priority * 1000000000000 + created_at, execution_id)
  return ok('promoted')
end)
