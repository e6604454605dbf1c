-- Shared step for scripts that take several items per call: calls `apply` once per item with the item's
-- `key_count` keys (from KEYS[first_key]) and then its `arg_count` values (from ARGV[first_arg]), and
-- returns the answers in order.
local function each_item(first_key, key_count, first_arg, arg_count, apply)
  local answers = {}
  for i = 0, (#ARGV - first_arg + 1) / arg_count - 1 do
    local item = {}
    for k = first_key + key_count * i, first_key + key_count * (i + 1) - 1 do
      item[#item + 1] = KEYS[k]
    end
    for a = first_arg + arg_count * i, first_arg + arg_count * (i + 1) - 1 do
      item[#item + 1] = ARGV[a]
    end
    answers[#answers + 1] = apply(unpack(item))
  end
  return answers
end
