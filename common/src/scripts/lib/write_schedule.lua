-- Shared step: write a schedule record planned in Rust. ARGV from index `first` holds the number of
-- fields to delete, their names, then name/value pairs to set (the record's `rev` included).
local function write_schedule(key, first)
  local deletes = tonumber(ARGV[first])
  if deletes > 0 then
    redis.call('HDEL', key, unpack(ARGV, first + 1, first + deletes))
  end
  redis.call('HSET', key, unpack(ARGV, first + deletes + 1, #ARGV))
end
