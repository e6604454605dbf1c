-- Keeps the list of records a worker could not decode, so operators see them (`recur-worker inspect`).
-- KEYS[1] corrupt_records: key → why it does not decode (HASH)
-- ARGV[1..] entries: pairs of a record's key and why it does not decode, or '' when it reads again
-- Returns 1
for i = entries, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', corrupt_records, ARGV[i])
  else
    redis.call('HSET', corrupt_records, ARGV[i], ARGV[i + 1])
  end
end
return 1
