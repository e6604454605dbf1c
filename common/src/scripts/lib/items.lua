-- Shared step for scripts that take several items per call: calls `apply` once per item with the index in KEYS
-- of the item's first key (its `key_count` keys start there) and then the item's `arg_count` values (from
-- ARGV[first_arg]), and returns the answers in order. The items run to the end of ARGV, or number `count`.
-- The keys go by index rather than copied into a table per item: copying each item's keys and values cost as
-- much as its commands.
local function each_item(first_key, key_count, first_arg, arg_count, apply, count)
  local answers = {}
  for i = 0, (count or (#ARGV - first_arg + 1) / arg_count) - 1 do
    local arg = first_arg + arg_count * i
    answers[i + 1] = apply(first_key + key_count * i, unpack(ARGV, arg, arg + arg_count - 1))
  end
  return answers
end
