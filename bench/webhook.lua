-- wrk script: posts pre-signed ~2 KB webhooks with unique event ids (bench/run.sh).
-- Environment: BENCH_SIGNED (file from deskpilot_sign_webhooks), BENCH_PATH (URL path),
-- BENCH_DELAY_MS (optional pause before each request on a connection: the rate-limited run).
local prefix, suffix, timestamp
local ids, sigs = {}, {}
local next_index = 1
local path = os.getenv("BENCH_PATH") or "/webhooks/bench"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function init(args)
  local f = assert(io.open(os.getenv("BENCH_SIGNED"), "r"))
  prefix = f:read("*l")
  suffix = f:read("*l")
  timestamp = f:read("*l")
  for line in f:lines() do
    local id, sig = line:match("^([^\t]+)\t(.+)$")
    ids[#ids + 1] = id
    sigs[#sigs + 1] = sig
  end
  f:close()
end

function request()
  -- Wrapping around would turn later deliveries into duplicates (200, no insert);
  -- run.sh signs more deliveries than one run can send.
  local i = next_index
  next_index = next_index % #ids + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Zendesk-Webhook-Signature"] = sigs[i],
    ["X-Zendesk-Webhook-Signature-Timestamp"] = timestamp,
  }, prefix .. ids[i] .. suffix)
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.status + e.timeout))
end
