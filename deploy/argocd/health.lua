-- Argo CD health check for diurnal's CronHorizontalPodAutoscaler
-- (autoscaling.alibabacloud.com/v1beta1). Install it in argocd-cm under
--   resource.customizations.health.autoscaling.alibabacloud.com_CronHorizontalPodAutoscaler
-- (docs/gitops.md). Tested against sample objects by crates/api/tests/argocd_health.rs.
--
-- It reads status.summary (written by diurnal) and status.observedGeneration; an object whose
-- status was written by kubernetes-cronhpa-controller (no summary) is judged by its conditions.
local hs = {}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to plan this CronHPA"
  return hs
end

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to plan generation " .. tostring(generation)
  return hs
end

local summary = status.summary
if summary ~= nil and summary.state ~= nil then
  local states = {
    Ready = "Healthy",
    Progressing = "Progressing",
    Degraded = "Degraded",
    Suspended = "Suspended",
  }
  hs.status = states[summary.state] or "Unknown"
  hs.message = summary.message or ""
  return hs
end

-- A status without a summary: the old controller's, or diurnal's before it had one.
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.state == "Failed" then
      hs.status = "Degraded"
      hs.message = "job " .. tostring(condition.name) .. ": " .. tostring(condition.message or "")
      return hs
    end
  end
end
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
  return hs
end
hs.status = "Healthy"
hs.message = ""
return hs
