-- wrk script of bench/cases_intake_bench.py: every request files a new report.
--
--   wrk -t2 -c16 -d60s -s bench/cases_intake.lua http://127.0.0.1:PORT -- DATA ANONYMOUS RUN
--
-- DATA is written by the bench: "area minlng minlat maxlng maxlat", then "token KEY",
-- "category CODE" and "anonymous CODE" lines. ANONYMOUS is the share of reports sent without a
-- token (with a phone number, in a category open to anonymous reports). RUN prefixes the
-- idempotency keys: RUN-<thread>-<n>, distinct across threads. done() prints one JSON line.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_id", #threads)
end

local area, tokens, categories, anonymous_categories = {}, {}, {}, {}
local anonymous, run
local counter = 0
created, other = 0, 0 -- globals: done() reads them with thread:get
local descriptions = {
   "井盖松动，车辆经过时响声很大",
   "路灯不亮已经三天了",
   "小区门口垃圾堆放无人清理",
   "人行道地砖破损，老人容易绊倒",
}

function init(args)
   for line in io.lines(args[1]) do
      local kind, rest = line:match("^(%S+) (.*)$")
      if kind == "area" then
         for v in rest:gmatch("%S+") do table.insert(area, tonumber(v)) end
      elseif kind == "token" then
         table.insert(tokens, rest)
      elseif kind == "category" then
         table.insert(categories, rest)
      elseif kind == "anonymous" then
         table.insert(anonymous_categories, rest)
      end
   end
   anonymous = tonumber(args[2])
   run = args[3] .. "-" .. thread_id
   math.randomseed(thread_id * 7919)
end

local function between(low, high)
   return string.format("%.6f", low + math.random() * (high - low))
end

function request()
   counter = counter + 1
   local key = run .. "-" .. counter
   local headers = { ["Content-Type"] = "application/json" }
   local category, phone = nil, ""
   if math.random() < anonymous then
      category = anonymous_categories[counter % #anonymous_categories + 1]
      phone = string.format(', "reporter_phone": "13%09d"', math.random(0, 999999999))
   else
      category = categories[counter % #categories + 1]
      headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
   end
   local body = string.format(
      '{"category": "%s", "description": "%s（%s）", "lng": %s, "lat": %s, '
         .. '"address": "测试路%d号", "idempotency_key": "%s"%s}',
      category, descriptions[counter % #descriptions + 1], key,
      between(area[1], area[3]), between(area[2], area[4]), counter % 300 + 1, key, phone)
   return wrk.format("POST", "/api/v1/cases", headers, body)
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      other = other + 1
      -- Keep the first few odd answers for the report.
      if other <= 3 then print("status " .. status .. ": " .. body:sub(1, 200)) end
   end
end

function done(summary, latency, requests)
   local total_created, total_other = 0, 0
   for _, thread in ipairs(threads) do
      total_created = total_created + thread:get("created")
      total_other = total_other + thread:get("other")
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "seconds": %.3f, "created": %d, "other": %d, "socket_errors": %d, '
         .. '"p50": %d, "p95": %d, "p99": %d, "max": %d}\n',
      summary.requests, summary.duration / 1e6, total_created, total_other,
      e.connect + e.read + e.write + e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
