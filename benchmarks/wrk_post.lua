-- wrk script of the receiver benchmark (benchmarks/bench_receiver.py runs it):
--   wrk -s benchmarks/wrk_post.lua URL -- RUN_ID TOKEN BODY
-- BODY is bench_receiver.py's BODY_TEMPLATE with @ID@ where the event id goes and
-- @CONN@ where the connection number goes (here: the wrk thread's number). Every
-- request gets its own event id, bench-RUN_ID-THREAD-N. No response() hook: it
-- would cost wrk CPU on every answer, and wrk counts answers >= 400 by itself.
-- done() prints one JSON line for bench_receiver.py to parse.

local threads = 0

function setup(thread)
   thread:set("thread_number", threads)
   threads = threads + 1
end

local headers, parts, id_prefix
local sequence = 0

function init(args)
   local run_id, token, template = args[1], args[2], args[3]
   headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "bench",
   }
   local body = template:gsub("@CONN@", tostring(thread_number))
   -- The body split around its event ids: table.concat(parts, id) puts them back.
   parts = {}
   for part in (body .. "@ID@"):gmatch("(.-)@ID@") do
      parts[#parts + 1] = part
   end
   id_prefix = "bench-" .. run_id .. "-" .. thread_number .. "-"
end

function request()
   sequence = sequence + 1
   return wrk.format("POST", nil, headers, table.concat(parts, id_prefix .. sequence))
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d,'
         .. ' "read_errors": %d, "write_errors": %d, "timeouts": %d,'
         .. ' "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, errors.status, errors.connect,
      errors.read, errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(99), latency.max
   ))
end
