{{- define "burnrate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "burnrate.labels" -}}
app.kubernetes.io/name: burnrate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of a service's objects and pods. */}}
{{- define "burnrate.componentLabels" -}}
{{ include "burnrate.labels" .root }}
app.kubernetes.io/component: {{ .name }}
app.kubernetes.io/part-of: burnrate
{{- end -}}

{{- define "burnrate.selector" -}}
app.kubernetes.io/name: burnrate
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "burnrate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "burnrate.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}{{ .Values.serviceAccount.name | default (include "burnrate.fullname" .) }}{{- else -}}{{ .Values.serviceAccount.name | default "default" }}{{- end -}}
{{- end -}}

{{/* Environment every container gets besides the ConfigMap: secrets by reference (never values), the pod name. */}}
{{- define "burnrate.secretEnv" -}}
- name: INSTANCE_ID
  valueFrom:
    fieldRef: { fieldPath: metadata.name }
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ .Values.database.existingSecret | quote }}, key: {{ .Values.database.secretKey | quote }} }
{{- if .Values.kafka.sasl.passwordSecret.name }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .Values.kafka.sasl.passwordSecret.name | quote }}, key: {{ .Values.kafka.sasl.passwordSecret.key | quote }} }
{{- end }}
{{- if .Values.schemaRegistry.passwordSecret.name }}
- name: SCHEMA_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef: { name: {{ .Values.schemaRegistry.passwordSecret.name | quote }}, key: {{ .Values.schemaRegistry.passwordSecret.key | quote }} }
{{- end }}
{{- if .Values.kafka.tls.caSecret }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/burnrate/kafka-ca/ca.crt
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
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
{{- if .Values.kafka.sasl.mechanism }}
KAFKA_SASL_MECHANISM: {{ .Values.kafka.sasl.mechanism | quote }}
KAFKA_SASL_USERNAME: {{ .Values.kafka.sasl.username | quote }}
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

{{/* Volumes every pod mounts: a writable /tmp on a read-only root, and the optional Kafka CA. */}}
{{- define "burnrate.volumes" -}}
- name: tmp
  emptyDir: { sizeLimit: 256Mi }
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret: { secretName: {{ .Values.kafka.tls.caSecret | quote }} }
{{- end }}
{{- end -}}

{{- define "burnrate.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/burnrate/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* What values.schema.json cannot say: settings that only work together. */}}
{{- define "burnrate.validate" -}}
{{- if and .Values.kafka.sasl.mechanism (or (not .Values.kafka.sasl.username) (not .Values.kafka.sasl.passwordSecret.name)) }}
{{- fail "kafka.sasl.mechanism needs kafka.sasl.username and kafka.sasl.passwordSecret.name (an existing Secret)" }}
{{- end }}
{{- if and .Values.schemaRegistry.username (not .Values.schemaRegistry.passwordSecret.name) }}
{{- fail "schemaRegistry.username needs schemaRegistry.passwordSecret.name (an existing Secret)" }}
{{- end }}
{{- if and .Values.kafka.tls.caSecret (not .Values.kafka.tls.enabled) }}
{{- fail "kafka.tls.caSecret is set but kafka.tls.enabled is false" }}
{{- end }}
{{- if eq .Values.secrets.previousKeysKey .Values.secrets.key }}
{{- fail "secrets.previousKeysKey must differ from secrets.key (the current key)" }}
{{- end }}
{{- if and (eq .Values.kafka.sasl.mechanism "plain") (not .Values.kafka.tls.enabled) }}
{{- fail "kafka.sasl.mechanism plain sends the password in clear: enable kafka.tls" }}
{{- end }}
{{- end -}}
