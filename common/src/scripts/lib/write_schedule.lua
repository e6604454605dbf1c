-- Shared step: write a schedule record planned in Rust, or the fields a planned change touched, passed as one
-- JSON argument `{"set": [name, value, ...], "del": [name, ...]}` (see `ScheduleRecord`).
local function write_schedule(key, record)
  record = cjson.decode(record)
  if #record.del > 0 then
    redis.call('HDEL', key, unpack(record.del))
  end
  if #record.set > 0 then
    redis.call('HSET', key, unpack(record.set))
  end
end
