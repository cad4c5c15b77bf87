-- Distinct discovery bodies for bench/api's wrk scripts.
--
-- The body is a real discovery report (the fixture discovery-m01.json)
-- where the machine's UUID and MAC (in every spelling the report uses:
-- aa:bb:.. and aa-bb-..) are replaced by generated ones. A machine is
-- named by (phase, thread, n):
--   MAC  52:PP:TT:NN:NN:NN          locally administered, unicast, lower case
--   UUID PPTTbe7c-0000-4000-8000-NNNNNNNNNNNN   version 4, RFC 4122 variant
-- so every wrk run (one phase number each), thread and request gives a
-- new machine as long as n < 2^24.
local M = {}

local parts -- literal text and placeholders ("U", "M", "D") in order

local function plain(s) -- s as a Lua pattern matching itself
    return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

function M.load(path, phase, tid)
    local f = assert(io.open(path, "rb"), "bench/api: cannot read the fixture " .. tostring(path))
    local t = f:read("*a")
    f:close()
    local uuid = t:match('"uuid"%s*:%s*"(%x+%-%x+%-%x+%-%x+%-%x+)"')
    local mac = t:match('"mac"%s*:%s*"(%x%x:%x%x:%x%x:%x%x:%x%x:%x%x)"')
    assert(uuid and mac, "bench/api: no boot-info uuid/mac in " .. path)
    local dashed = mac:gsub(":", "-")
    t = t:gsub(plain(uuid), "\1U\2"):gsub(plain(mac), "\1M\2"):gsub(plain(dashed), "\1D\2")
    parts = {}
    local pos = 1
    while true do
        local s, e, kind = t:find("\1(%u)\2", pos)
        if not s then
            parts[#parts + 1] = t:sub(pos)
            break
        end
        parts[#parts + 1] = t:sub(pos, s - 1)
        parts[#parts + 1] = { kind }
        pos = e + 1
    end
    M.phase = phase % 256
    M.tid = tid % 256
end

-- The MAC (colon form) and UUID of machine n of this phase and thread.
function M.ids(n)
    local b = bit
    local mac = string.format("52:%02x:%02x:%02x:%02x:%02x", M.phase, M.tid,
        b.band(b.rshift(n, 16), 255), b.band(b.rshift(n, 8), 255), b.band(n, 255))
    local uuid = string.format("%02x%02xbe7c-0000-4000-8000-%012x", M.phase, M.tid, n)
    return mac, uuid
end

function M.body(n)
    local mac, uuid = M.ids(n)
    local dashed = mac:gsub(":", "-")
    local out = {}
    for i = 1, #parts do
        local p = parts[i]
        if type(p) == "string" then
            out[i] = p
        elseif p[1] == "U" then
            out[i] = uuid
        elseif p[1] == "M" then
            out[i] = mac
        else
            out[i] = dashed
        end
    end
    return table.concat(out)
end

return M
