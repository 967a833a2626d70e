-- Argo CD health of a LocustTest (locust.io), from the verdict locust-finisher copies onto it.
-- Healthy: the last run passed. Degraded: it failed (the message is its reason code).
-- Progressing: no verdict yet (the test runs, or has not run).
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
elseif result == "failed" then
  hs.status = "Degraded"
  if reason ~= nil and reason ~= "" then
    hs.message = "load test failed: " .. reason
  else
    hs.message = "load test failed"
  end
else
  hs.status = "Progressing"
  hs.message = "no locust-finisher verdict yet"
end
return hs
