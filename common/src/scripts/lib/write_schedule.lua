-- Shared step: write a schedule record planned in Rust, passed as one JSON argument
-- `{"set": [name, value, ...], "del": [name, ...]}` (see `ScheduleRecord`); `rev` is among the set fields.
local function write_schedule(key, record)
  record = cjson.decode(record)
  if #record.del > 0 then
    redis.call('HDEL', key, unpack(record.del))
  end
  redis.call('HSET', key, unpack(record.set))
end
