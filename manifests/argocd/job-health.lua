-- Argo CD health of a Job: a Locust test's by its locust-finisher verdict, any other as Argo
-- CD itself judges Jobs (complete: Healthy; failed: Degraded; suspended: Suspended; else
-- Progressing). A custom check replaces Argo CD's own for every Job, so both are here.
local hs = {}
local annotations = {}
if obj.metadata ~= nil and obj.metadata.annotations ~= nil then
  annotations = obj.metadata.annotations
end
local result = annotations["locust-finisher.io/result"]
local reason = annotations["locust-finisher.io/reason"]
if result == "passed" then
  hs.status = "Healthy"
  hs.message = "load test passed"
  return hs
end
if result == "failed" then
  hs.status = "Degraded"
  if reason ~= nil and reason ~= "" then
    hs.message = "load test failed: " .. reason
  else
    local code = annotations["locust-finisher.io/exit-code"]
    hs.message = "load test failed (Locust exit code " .. tostring(code or "unknown") .. ")"
  end
  return hs
end
if annotations["locust-finisher.io/held-ttl-seconds-after-finished"] ~= nil then
  -- locust-finisher holds the Job's TTL until the verdict is on it: not judged yet.
  hs.status = "Progressing"
  hs.message = "load test running or being judged: no locust-finisher verdict yet"
  return hs
end
local complete, failed, suspended = false, false, false
local message, failure = "", ""
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.status == "True" then
      if condition.type == "Failed" then
        complete, failed = true, true
        failure = condition.message or ""
      elseif condition.type == "Complete" then
        complete = true
        message = condition.message or ""
      elseif condition.type == "Suspended" then
        complete, suspended = true, true
        message = condition.message or ""
      end
    end
  end
end
if not complete then
  hs.status = "Progressing"
  hs.message = message
elseif failed then
  hs.status = "Degraded"
  hs.message = failure
elseif suspended then
  hs.status = "Suspended"
  hs.message = message
else
  hs.status = "Healthy"
  hs.message = message
end
return hs
