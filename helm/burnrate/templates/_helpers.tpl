{{- define "burnrate.name" -}}
{{ .Values.nameOverride | default .Chart.Name | trunc 40 | trimSuffix "-" }}
{{- end -}}

{{/* The prefix of every object's name: 40 characters at most, so that the longest suffix (-rate-card-refresh) fits. */}}
{{- define "burnrate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{ .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else -}}
{{- $name := include "burnrate.name" . -}}
{{- if contains $name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object: the chart's own, then commonLabels (which cannot change them: selectors rely on them). */}}
{{- define "burnrate.labels" -}}
{{- $own := include "burnrate.ownLabels" . -}}
{{ $own }}
{{- with include "burnrate.moreLabels" (dict "have" ($own | fromYaml) "labels" .Values.commonLabels) }}
{{ . }}
{{- end }}
{{- end -}}

{{- define "burnrate.ownLabels" -}}
app.kubernetes.io/name: {{ include "burnrate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of a service's (or Job's) objects and pods. */}}
{{- define "burnrate.componentLabels" -}}
{{- $own := printf "%s\napp.kubernetes.io/component: %s\napp.kubernetes.io/part-of: %s" (include "burnrate.ownLabels" .root) .name (include "burnrate.name" .root) -}}
{{ $own }}
{{- with include "burnrate.moreLabels" (dict "have" ($own | fromYaml) "labels" .root.Values.commonLabels) }}
{{ . }}
{{- end }}
{{- end -}}

{{/* A pod's labels: its component's, then podLabels (global and its own, from burnrate.podSettings). */}}
{{- define "burnrate.podLabels" -}}
{{- $labels := include "burnrate.componentLabels" . -}}
{{ $labels }}
{{- with include "burnrate.moreLabels" (dict "have" ($labels | fromYaml) "labels" .pod.podLabels) }}
{{ . }}
{{- end }}
{{- end -}}

{{/* The .labels whose keys .have lacks, as YAML. */}}
{{- define "burnrate.moreLabels" -}}
{{- $more := dict -}}
{{- range $k, $v := .labels }}{{ if not (hasKey $.have $k) }}{{ $_ := set $more $k $v }}{{ end }}{{ end -}}
{{- with $more }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- define "burnrate.selector" -}}
app.kubernetes.io/name: {{ include "burnrate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "burnrate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "burnrate.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}{{ .Values.serviceAccount.name | default (include "burnrate.fullname" .) }}{{- else -}}{{ .Values.serviceAccount.name | default "default" }}{{- end -}}
{{- end -}}

{{/* "true" when a Prometheus Operator object is to be rendered: .value is auto (when the cluster serves
monitoring.coreos.com/v1), true or false. */}}
{{- define "burnrate.withOperator" -}}
{{- if eq (toString .value) "auto" -}}
{{- if .root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end -}}
{{- else if .value }}true{{ end -}}
{{- end -}}

{{/* How a service is autoscaled: "keda" (a ScaledObject on its consumer group's lag), "hpa" (on CPU) or "" (not). KEDA
scales consumers only, when autoscaling.mode is keda, or auto and the cluster serves keda.sh/v1alpha1. */}}
{{- define "burnrate.autoscaler" -}}
{{- if .svc.autoscaling.enabled -}}
{{- $mode := .root.Values.autoscaling.mode -}}
{{- if and .svc.consumerGroup (or (eq $mode "keda") (and (eq $mode "auto") (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1"))) -}}
keda
{{- else -}}
hpa
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A consumer's group (CONSUMER_GROUP), suffixed with kafka.topicNamespace when one is set. */}}
{{- define "burnrate.consumerGroup" -}}
{{ .svc.consumerGroup }}{{ with .root.Values.kafka.topicNamespace }}-{{ . }}{{ end }}
{{- end -}}

{{/* The Kafka brokers' CA as {name, key}: kafka.tls.caSecret is a Secret's name (key ca.crt) or {name, key}. */}}
{{- define "burnrate.kafkaCa" -}}
{{- $ca := .Values.kafka.tls.caSecret | default "" -}}
{{- if kindIs "string" $ca -}}
{{ toYaml (dict "name" $ca "key" "ca.crt") }}
{{- else -}}
{{ toYaml (dict "name" ($ca.name | default "") "key" ($ca.key | default "ca.crt")) }}
{{- end -}}
{{- end -}}

{{/* Environment every container gets besides the ConfigMap: secrets by reference (never values), the files mounted
from Secrets (burnrate.volumes), the pod name. */}}
{{- define "burnrate.env" -}}
{{- $v := .Values -}}
{{- $kafkaCa := include "burnrate.kafkaCa" . | fromYaml -}}
- name: INSTANCE_ID
  valueFrom:
    fieldRef: { fieldPath: metadata.name }
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ $v.database.existingSecret | quote }}, key: {{ $v.database.secretKey | quote }} }
{{- if and (ne $v.kafka.sasl.mechanism "oauthbearer") $v.kafka.sasl.passwordSecret.name }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ $v.kafka.sasl.passwordSecret.name | quote }}, key: {{ $v.kafka.sasl.passwordSecret.key | quote }} }
{{- end }}
{{- if eq $v.kafka.sasl.mechanism "oauthbearer" }}
- name: KAFKA_OAUTH_CLIENT_SECRET
  valueFrom:
    secretKeyRef: { name: {{ $v.kafka.sasl.oauth.clientSecret.name | quote }}, key: {{ $v.kafka.sasl.oauth.clientSecret.key | quote }} }
{{- end }}
{{- if $v.schemaRegistry.passwordSecret.name }}
- name: SCHEMA_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ $v.schemaRegistry.passwordSecret.name | quote }}, key: {{ $v.schemaRegistry.passwordSecret.key | quote }} }
{{- end }}
{{- if $kafkaCa.name }}
- name: KAFKA_SSL_CA_FILE
  value: /etc/burnrate/kafka-ca/ca.crt
# Kafka's CA is also trusted by every other TLS connection without a CA of its own (as when it was the only one).
- name: NODE_EXTRA_CA_CERTS
  value: /etc/burnrate/kafka-ca/ca.crt
{{- end }}
{{- if $v.kafka.tls.clientCertSecret.name }}
- name: KAFKA_SSL_CERT_FILE
  value: /etc/burnrate/kafka-client/tls.crt
- name: KAFKA_SSL_KEY_FILE
  value: /etc/burnrate/kafka-client/tls.key
{{- end }}
{{- if $v.schemaRegistry.caSecret.name }}
- name: SCHEMA_REGISTRY_CA_FILE
  value: /etc/burnrate/schema-registry-ca/ca.crt
{{- end }}
{{- if $v.database.caSecret.name }}
- name: DATABASE_CA_FILE
  value: /etc/burnrate/database-ca/ca.crt
{{- end }}
{{- end -}}

{{/* The key sealing secrets stored in PostgreSQL, and the old ones during a rotation: for the api and the alert-router,
the services that store and read routes. */}}
{{- define "burnrate.secretsKeyEnv" -}}
- name: SECRETS_KEY
  valueFrom:
    secretKeyRef: { name: {{ .Values.secrets.existingSecret | quote }}, key: {{ .Values.secrets.key | quote }} }
{{- if .Values.secrets.previousKeysKey }}
- name: SECRETS_PREVIOUS_KEYS
  valueFrom:
    secretKeyRef: { name: {{ .Values.secrets.existingSecret | quote }}, key: {{ .Values.secrets.previousKeysKey | quote }} }
{{- end }}
{{- end -}}

{{/* The shared, non-secret settings (the ConfigMap's data); a setting only some services read is ignored by the rest. */}}
{{- define "burnrate.config" -}}
NODE_ENV: production
LOG_LEVEL: {{ .Values.logLevel | quote }}
KAFKA_BROKERS: {{ .Values.kafka.brokers | quote }}
KAFKA_SSL: {{ .Values.kafka.tls.enabled | quote }}
KAFKA_TOPIC_PARTITIONS: {{ .Values.kafka.topicPartitions | int64 | quote }}
KAFKA_REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | int64 | quote }}
KAFKA_SESSION_TIMEOUT_MS: {{ .Values.kafka.sessionTimeoutMs | int64 | quote }}
KAFKA_FETCH_MIN_BYTES: {{ .Values.kafka.fetchMinBytes | int64 | quote }}
KAFKA_FETCH_MAX_WAIT_MS: {{ .Values.kafka.fetchMaxWaitMs | int64 | quote }}
KAFKA_COMPRESSION: {{ .Values.kafka.compression | quote }}
KAFKA_RECORD_MAX_ATTEMPTS: {{ .Values.kafka.recordMaxAttempts | int64 | quote }}
KAFKA_RETRY_MAX_BACKOFF_MS: {{ .Values.kafka.retryMaxBackoffMs | int64 | quote }}
KAFKA_LAG_INTERVAL_MS: {{ .Values.kafka.lagIntervalMs | int64 | quote }}
KAFKA_STALL_LIVENESS_S: {{ .Values.kafka.stallLivenessSeconds | int64 | quote }}
{{- if .Values.kafka.topicNamespace }}
BURNRATE_TOPIC_NAMESPACE: {{ .Values.kafka.topicNamespace | quote }}
{{- end }}
{{- with .Values.kafka.sasl }}
{{- if eq .mechanism "oauthbearer" }}
KAFKA_SASL_MECHANISM: oauthbearer
KAFKA_OAUTH_TOKEN_URL: {{ .oauth.tokenUrl | quote }}
KAFKA_OAUTH_CLIENT_ID: {{ .oauth.clientId | quote }}
{{- if .oauth.scope }}
KAFKA_OAUTH_SCOPE: {{ .oauth.scope | quote }}
{{- end }}
{{- else if .mechanism }}
KAFKA_SASL_MECHANISM: {{ .mechanism | quote }}
KAFKA_SASL_USERNAME: {{ .username | quote }}
{{- end }}
{{- end }}
SCHEMA_REGISTRY_URL: {{ .Values.schemaRegistry.url | quote }}
{{- if .Values.schemaRegistry.username }}
SCHEMA_REGISTRY_USERNAME: {{ .Values.schemaRegistry.username | quote }}
{{- end }}
RUNS_RETENTION_DAYS: {{ .Values.database.runsRetentionDays | int64 | quote }}
DB_STATEMENT_TIMEOUT_S: {{ .Values.database.statementTimeoutSeconds | int64 | quote }}
PUBLIC_URL: {{ .Values.alerting.publicUrl | quote }}
SMTP_FROM: {{ .Values.alerting.smtpFrom | quote }}
RETRY_PAGERDUTY: {{ .Values.alerting.retry.pagerduty | quote }}
RETRY_SLACK: {{ .Values.alerting.retry.slack | quote }}
RETRY_TEAMS: {{ .Values.alerting.retry.teams | quote }}
RETRY_EMAIL: {{ .Values.alerting.retry.email | quote }}
RETRY_WEBHOOK: {{ .Values.alerting.retry.webhook | quote }}
PAGERDUTY_EVENTS_URL: {{ .Values.alerting.pagerdutyEventsUrl | quote }}
ALERT_DESTINATION_ALLOWLIST: {{ .Values.alerting.destinationAllowlist | quote }}
DELIVERY_CONCURRENCY: {{ .Values.alerting.deliveryConcurrency | int64 | quote }}
API_MAX_RANGE_DAYS: {{ .Values.api.maxRangeDays | int64 | quote }}
API_TREE_MAX_NODES: {{ .Values.api.treeMaxNodes | int64 | quote }}
BACKTEST_MAX_DAYS: {{ .Values.api.backtestMaxDays | default 31 | int64 | quote }}
BACKTEST_MAX_RUNS: {{ .Values.api.backtestMaxRuns | default 2000000 | int64 | quote }}
BACKTEST_CONCURRENCY: {{ .Values.api.backtestConcurrency | default 2 | int64 | quote }}
RATE_LIMIT_PER_S: {{ .Values.rateLimits.perSecond | int64 | quote }}
RATE_LIMIT_BURST: {{ .Values.rateLimits.burst | int64 | quote }}
RATE_LIMIT_UNAUTHENTICATED_PER_S: {{ .Values.rateLimits.unauthenticatedPerSecond | int64 | quote }}
RATE_LIMIT_UNAUTHENTICATED_BURST: {{ .Values.rateLimits.unauthenticatedBurst | int64 | quote }}
SHUTDOWN_TIMEOUT_MS: {{ mul .Values.shutdownTimeoutSeconds 1000 | int64 | quote }}
{{- if .Values.fxRates }}
FX_RATES: {{ .Values.fxRates | quote }}
{{- end }}
{{- end -}}

{{/* Volumes every pod mounts: a writable /tmp on a read-only root, and the CAs and client certificate named in the
values (burnrate.env says where each file is). */}}
{{- define "burnrate.volumes" -}}
{{- $v := .Values -}}
{{- $kafkaCa := include "burnrate.kafkaCa" . | fromYaml -}}
- name: tmp
  emptyDir: { sizeLimit: 256Mi }
{{- if $kafkaCa.name }}
- name: kafka-ca
  secret:
    secretName: {{ $kafkaCa.name | quote }}
    items: [{ key: {{ $kafkaCa.key | quote }}, path: ca.crt }]
{{- end }}
{{- with $v.kafka.tls.clientCertSecret }}
{{- if .name }}
- name: kafka-client
  secret:
    secretName: {{ .name | quote }}
    items: [{ key: {{ .certKey | quote }}, path: tls.crt }, { key: {{ .keyKey | quote }}, path: tls.key }]
{{- end }}
{{- end }}
{{- with $v.schemaRegistry.caSecret }}
{{- if .name }}
- name: schema-registry-ca
  secret:
    secretName: {{ .name | quote }}
    items: [{ key: {{ .key | quote }}, path: ca.crt }]
{{- end }}
{{- end }}
{{- with $v.database.caSecret }}
{{- if .name }}
- name: database-ca
  secret:
    secretName: {{ .name | quote }}
    items: [{ key: {{ .key | quote }}, path: ca.crt }]
{{- end }}
{{- end }}
{{- end -}}

{{- define "burnrate.volumeMounts" -}}
{{- $v := .Values -}}
- name: tmp
  mountPath: /tmp
{{- if (include "burnrate.kafkaCa" . | fromYaml).name }}
- name: kafka-ca
  mountPath: /etc/burnrate/kafka-ca
  readOnly: true
{{- end }}
{{- if $v.kafka.tls.clientCertSecret.name }}
- name: kafka-client
  mountPath: /etc/burnrate/kafka-client
  readOnly: true
{{- end }}
{{- if $v.schemaRegistry.caSecret.name }}
- name: schema-registry-ca
  mountPath: /etc/burnrate/schema-registry-ca
  readOnly: true
{{- end }}
{{- if $v.database.caSecret.name }}
- name: database-ca
  mountPath: /etc/burnrate/database-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* A pod's settings (as YAML, for fromYaml): the chart-wide ones (.root.Values) and the workload's own (.own: a service,
migrations or rateCardRefresh). Maps (nodeSelector, podAnnotations, podLabels) merge, the workload's keys winning;
tolerations, affinity, topologySpreadConstraints and priorityClassName are the workload's when it gives them (even
empty), else the chart-wide ones; environment, volumes and mounts add the workload's after the chart-wide ones. A
topology spread constraint without a labelSelector gets the workload's own pods' (.selector). */}}
{{- define "burnrate.podSettings" -}}
{{- $v := .root.Values -}}
{{- $own := .own -}}
{{- $pick := dict -}}
{{- range $k := list "tolerations" "affinity" "topologySpreadConstraints" "priorityClassName" -}}
{{- $_ := set $pick $k (ternary (get $own $k) (get $v $k) (hasKey $own $k)) -}}
{{- end -}}
{{- $spread := list -}}
{{- range $pick.topologySpreadConstraints -}}
{{- $c := deepCopy . -}}
{{- if not $c.labelSelector }}{{ $_ := set $c "labelSelector" (dict "matchLabels" $.selector) }}{{ end -}}
{{- $spread = append $spread $c -}}
{{- end -}}
nodeSelector: {{ merge (deepCopy ($own.nodeSelector | default dict)) ($v.nodeSelector | default dict) | toJson }}
podAnnotations: {{ merge (deepCopy ($own.podAnnotations | default dict)) ($v.podAnnotations | default dict) | toJson }}
podLabels: {{ merge (deepCopy ($own.podLabels | default dict)) ($v.podLabels | default dict) | toJson }}
tolerations: {{ $pick.tolerations | default list | toJson }}
affinity: {{ $pick.affinity | default dict | toJson }}
topologySpreadConstraints: {{ $spread | toJson }}
priorityClassName: {{ $pick.priorityClassName | default "" | toJson }}
env: {{ concat ($v.extraEnv | default list) ($own.env | default list) | toJson }}
volumes: {{ concat ($v.extraVolumes | default list) ($own.extraVolumes | default list) | toJson }}
volumeMounts: {{ concat ($v.extraVolumeMounts | default list) ($own.extraVolumeMounts | default list) | toJson }}
{{- end -}}

{{/* A service's affinity when none is given: its replicas prefer different nodes. */}}
{{- define "burnrate.spreadOverNodes" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "burnrate.selector" . | nindent 12 }}
{{- end -}}

{{/* The scheduling part of a pod spec, from burnrate.podSettings (.pod); .defaultAffinity when it gives no affinity. */}}
{{- define "burnrate.scheduling" -}}
{{- with .pod.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .pod.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .pod.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .pod.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.pod.affinity | default .defaultAffinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The spec of the TriggerAuthentication KEDA's Kafka scaler needs to reach the brokers as the services do, or nothing:
the CA and client certificate, and the SASL password or OAuth client secret, from their Secrets; the SASL user, or the
OAuth client, token URL and scope, from the chart's ConfigMap. */}}
{{- define "burnrate.kedaAuth" -}}
{{- $v := .Values -}}
{{- $sasl := $v.kafka.sasl -}}
{{- $kafkaCa := include "burnrate.kafkaCa" . | fromYaml -}}
{{- $config := printf "%s-config" (include "burnrate.fullname" .) -}}
{{- $secretRefs := list -}}
{{- $configRefs := list -}}
{{- if $kafkaCa.name -}}
{{- $secretRefs = append $secretRefs (dict "parameter" "ca" "name" $kafkaCa.name "key" $kafkaCa.key) -}}
{{- end -}}
{{- with $v.kafka.tls.clientCertSecret -}}
{{- if .name -}}
{{- $secretRefs = append $secretRefs (dict "parameter" "cert" "name" .name "key" .certKey) -}}
{{- $secretRefs = append $secretRefs (dict "parameter" "key" "name" .name "key" .keyKey) -}}
{{- end -}}
{{- end -}}
{{- if eq $sasl.mechanism "oauthbearer" -}}
{{- $secretRefs = append $secretRefs (dict "parameter" "password" "name" $sasl.oauth.clientSecret.name "key" $sasl.oauth.clientSecret.key) -}}
{{- $configRefs = append $configRefs (dict "parameter" "username" "name" $config "key" "KAFKA_OAUTH_CLIENT_ID") -}}
{{- $configRefs = append $configRefs (dict "parameter" "oauthTokenEndpointUri" "name" $config "key" "KAFKA_OAUTH_TOKEN_URL") -}}
{{- if $sasl.oauth.scope -}}
{{- $configRefs = append $configRefs (dict "parameter" "scopes" "name" $config "key" "KAFKA_OAUTH_SCOPE") -}}
{{- end -}}
{{- else if $sasl.mechanism -}}
{{- $secretRefs = append $secretRefs (dict "parameter" "password" "name" $sasl.passwordSecret.name "key" $sasl.passwordSecret.key) -}}
{{- $configRefs = append $configRefs (dict "parameter" "username" "name" $config "key" "KAFKA_SASL_USERNAME") -}}
{{- end -}}
{{- with $secretRefs }}
secretTargetRef:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $configRefs }}
configMapTargetRef:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* What values.schema.json cannot say: settings that only work together. */}}
{{- define "burnrate.validate" -}}
{{- $v := .Values -}}
{{- $sasl := $v.kafka.sasl -}}
{{- $oauth := $sasl.oauth -}}
{{- if and $sasl.mechanism (ne $sasl.mechanism "oauthbearer") (or (not $sasl.username) (not $sasl.passwordSecret.name)) }}
{{- fail (printf "kafka.sasl.mechanism %s needs kafka.sasl.username and kafka.sasl.passwordSecret.name (an existing Secret)" $sasl.mechanism) }}
{{- end }}
{{- if and (eq $sasl.mechanism "oauthbearer") (or (not $oauth.tokenUrl) (not $oauth.clientId) (not $oauth.clientSecret.name)) }}
{{- fail "kafka.sasl.mechanism oauthbearer needs kafka.sasl.oauth.tokenUrl, clientId and clientSecret.name (an existing Secret)" }}
{{- end }}
{{- if and (ne $sasl.mechanism "oauthbearer") (or $oauth.tokenUrl $oauth.clientId $oauth.clientSecret.name $oauth.scope) }}
{{- fail "kafka.sasl.oauth is set but kafka.sasl.mechanism is not oauthbearer" }}
{{- end }}
{{- if and (has $sasl.mechanism (list "plain" "oauthbearer")) (not $v.kafka.tls.enabled) }}
{{- fail (printf "kafka.sasl.mechanism %s sends its credential in clear: enable kafka.tls" $sasl.mechanism) }}
{{- end }}
{{- if and (include "burnrate.kafkaCa" . | fromYaml).name (not $v.kafka.tls.enabled) }}
{{- fail "kafka.tls.caSecret is set but kafka.tls.enabled is false" }}
{{- end }}
{{- if and $v.kafka.tls.clientCertSecret.name (not $v.kafka.tls.enabled) }}
{{- fail "kafka.tls.clientCertSecret is set but kafka.tls.enabled is false" }}
{{- end }}
{{- if and $v.schemaRegistry.caSecret.name (not (hasPrefix "https://" $v.schemaRegistry.url)) }}
{{- fail "schemaRegistry.caSecret is set but schemaRegistry.url is not https://" }}
{{- end }}
{{- if and $v.schemaRegistry.username (not $v.schemaRegistry.passwordSecret.name) }}
{{- fail "schemaRegistry.username needs schemaRegistry.passwordSecret.name (an existing Secret)" }}
{{- end }}
{{- if eq $v.secrets.previousKeysKey $v.secrets.key }}
{{- fail "secrets.previousKeysKey must differ from secrets.key (the current key)" }}
{{- end }}
{{- with $v.networkPolicy }}
{{- if and .enabled .publicFrom (not .metricsFrom) (not .monitoringNamespace) }}
{{- fail "networkPolicy.publicFrom restricts who reaches ingestion and the api, but their metrics share the port and are admitted from every namespace: name Prometheus in networkPolicy.metricsFrom or networkPolicy.monitoringNamespace" }}
{{- end }}
{{- end }}
{{- end -}}
