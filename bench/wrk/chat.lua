-- wrk script: one small non-streaming chat completion per request.
--   SY_BENCH_KEY=sk-... wrk -t1 -c64 -d10s --latency -s bench/wrk/chat.lua \
--     http://127.0.0.1:PORT/v1/chat/completions
-- The Authorization header is sent only when SY_BENCH_KEY is set, so the same script drives
-- the gateway (auth on) and the nginx reference (no auth) with identical request bodies.
local key = os.getenv("SY_BENCH_KEY")
local model = os.getenv("SY_BENCH_MODEL") or "bench-model"

wrk.method = "POST"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello."}],' ..
           '"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

-- No response() hook on purpose: it makes wrk parse every response in Lua, which costs client
-- CPU on the shared core. wrk's own "Non-2xx or 3xx responses" line catches 401/502 runs.
