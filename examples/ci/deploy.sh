#!/usr/bin/env bash
# Build, tag, push, then roll the Deployment — the field report's Jenkins script, with a
# diurnal redeploy trigger in place of the console-generated one.
#
#   TRIGGER_URL=... examples/ci/deploy.sh JOB_NAME
#
# TRIGGER_URL is what `diurnal trigger create` printed. Keep it in the CI system's secret store
# (a Jenkins "Secret text" credential, a GitHub Actions secret), never in the repository: the
# token in it is the power to roll the workload.
#
# Two ways to roll:
#   - restart trigger (`diurnal trigger create -n biz --deployment biz-server`): the pods are
#     recreated and pull :latest again (needs imagePullPolicy: Always, as in the field report);
#   - set-image trigger (`... --action set-image --image-pattern 'registry.cn-hangzhou.aliyuncs.com/biz/*'`):
#     set IMMUTABLE_TAGS=1 and the Deployment is moved to this build's own tag, so a rollback is
#     `kubectl rollout undo` and every pod runs the same build.
set -euo pipefail

job="${1:?usage: deploy.sh JOB_NAME}"
work_dir="/var/lib/jenkins/workspace/$job"
depends_dir="${DEPENDS_DIR:-/home/jenkins/dockerimage-depends/}"
registry="${REGISTRY:-registry.cn-hangzhou.aliyuncs.com/biz}"
image="${IMAGE:-biz-server}"
: "${TRIGGER_URL:?TRIGGER_URL is not set (the URL diurnal trigger create printed)}"

# The extra jars go into the docker build context, to be copied into tomcat in the image.
cp -R "$depends_dir" "$work_dir"
cd "$work_dir"

tag="$(git rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
docker build -t "$image:$tag" .
docker tag "$image:$tag" "$registry/$image:$tag"
docker tag "$image:$tag" "$registry/$image:latest"
docker push "$registry/$image:$tag"
docker push "$registry/$image:latest"

# Roll. `diurnal trigger call` sends the token as a bearer header (not in the URL, so it stays
# out of proxy logs) and exits 0 when rolled (or joined a rollout started in the last 10 s),
# 2 when refused (wrong URL or token, image not allowed: fix the job, do not retry),
# 3 when it may work later (rate limited, server or network error; already retried twice).
if [[ "${IMMUTABLE_TAGS:-0}" == 1 ]]; then
  diurnal trigger call "$TRIGGER_URL" --image "$registry/$image:$tag"
else
  diurnal trigger call "$TRIGGER_URL"
fi

# Without the diurnal binary on the build agent, curl does the same job; -f turns an HTTP error
# into a failed step:
#   curl -fsS -X POST -H "Authorization: Bearer $TRIGGER_TOKEN" "$TRIGGER_BASE/hooks/v1/namespaces/$TRIGGER_NAMESPACE/triggers/$TRIGGER_NAME"
