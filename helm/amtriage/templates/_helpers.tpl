{{/*
Names, labels and the pieces several templates share.
*/}}

{{- define "amtriage.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "amtriage.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "amtriage.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "amtriage.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amtriage.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "amtriage.labels" -}}
helm.sh/chart: {{ include "amtriage.chart" . }}
{{ include "amtriage.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "amtriage.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "amtriage.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "amtriage.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/* The port amtriage listens on in the pod (DESIGN.md: 0.0.0.0:9095). */}}
{{- define "amtriage.port" -}}9095{{- end }}

{{/* Where the pod sees its files; the config's *_file keys point into secretsDir. */}}
{{- define "amtriage.configDir" -}}/etc/amtriage{{- end }}
{{- define "amtriage.secretsDir" -}}/etc/amtriage/secrets{{- end }}
{{- define "amtriage.dataDir" -}}/var/lib/amtriage{{- end }}

{{/* The Secret the pod mounts: the user's existingSecret, else the chart's own. */}}
{{- define "amtriage.secretName" -}}
{{- default (include "amtriage.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The chart's own Secret: key -> value ("" when the chart creates no Secret). */}}
{{- define "amtriage.secretData" -}}
{{- if not .Values.secrets.existingSecret }}
{{- $data := deepCopy (.Values.secrets.stringData | default dict) }}
{{- if and .Values.auth.enabled .Values.auth.token }}
{{- $_ := set $data .Values.auth.tokenKey .Values.auth.token }}
{{- end }}
{{- if $data }}{{ toYaml $data }}{{ end }}
{{- end }}
{{- end }}

{{/* "true" when the pod mounts a Secret at secretsDir. */}}
{{- define "amtriage.hasSecret" -}}
{{- if or .Values.secrets.existingSecret (include "amtriage.secretData" .) }}true{{ end }}
{{- end }}

{{/* "true" when REDIS_URL is given to the pod. */}}
{{- define "amtriage.hasRedis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end }}
{{- end }}

{{/*
The amtriage configuration file: values.config with the keys the chart owns set, because they
are tied to the pod spec (listen port, data volume, mounted secrets, classifier file).
*/}}
{{- define "amtriage.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $server := get $config "server" | default dict }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%s" (include "amtriage.port" .)) }}
{{- if .Values.auth.enabled }}
{{- $auth := get $server "auth" | default dict }}
{{- $_ := set $auth "bearer_token_file" (printf "%s/%s" (include "amtriage.secretsDir" .) .Values.auth.tokenKey) }}
{{- $_ := set $server "auth" $auth }}
{{- end }}
{{- $_ := set $config "server" $server }}
{{- $outbox := get $config "outbox" | default dict }}
{{- $_ := set $outbox "path" (printf "%s/outbox.db" (include "amtriage.dataDir" .)) }}
{{- $_ := set $config "outbox" $outbox }}
{{- $classifier := get $config "classifier" | default dict }}
{{- if .Values.classifierRules }}
{{- $_ := set $classifier "rules_file" (printf "%s/classifier.yaml" (include "amtriage.configDir" .)) }}
{{- else if not (get $classifier "rules_file") }}
{{- $_ := set $classifier "rules_file" "/app/config/classifier.yaml" }}
{{- end }}
{{- $_ := set $config "classifier" $classifier }}
{{- toYaml $config }}
{{- end }}

{{/*
Refuse values that would deploy something broken; each message says what to change.
Included once, from deployment.yaml.
*/}}
{{- define "amtriage.validate" -}}
{{- $v := .Values }}
{{- $multi := or $v.autoscaling.enabled (gt (int $v.replicaCount) 1) }}
{{- if and $multi (not (include "amtriage.hasRedis" .)) }}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs redis.url or redis.existingSecret: the SQLite outbox and dedup state are per pod, so replicas without Redis would deliver duplicates and lose work on scale-down" }}
{{- end }}
{{- if and $multi $v.persistence.enabled }}
{{- fail "persistence.enabled gives the single replica a volume for its SQLite outbox; with more than one replica (replicaCount > 1 or autoscaling.enabled) use redis.url and persistence.enabled=false" }}
{{- end }}
{{- if and $v.auth.enabled (not $v.auth.token) (not $v.secrets.existingSecret) }}
{{- fail (printf "auth.enabled needs auth.token, or secrets.existingSecret naming a Secret with the key %q" $v.auth.tokenKey) }}
{{- end }}
{{- if and $v.secrets.existingSecret $v.auth.token }}
{{- fail (printf "auth.token is not used with secrets.existingSecret: put the token into that Secret under the key %q and unset auth.token" $v.auth.tokenKey) }}
{{- end }}
{{- if and $v.secrets.existingSecret $v.secrets.stringData }}
{{- fail "secrets.stringData is not used with secrets.existingSecret: put those keys into that Secret and unset secrets.stringData" }}
{{- end }}
{{- $config := $v.config | default dict }}
{{- if hasKey $config "redis_url" }}
{{- fail "config.redis_url: use redis.url (or redis.existingSecret) instead, so the chart knows replicas may share state" }}
{{- end }}
{{- if hasKey (get $config "server" | default dict) "listen" }}
{{- fail (printf "config.server.listen is set by the chart (0.0.0.0:%s, the container port): remove it" (include "amtriage.port" .)) }}
{{- end }}
{{- if hasKey (get $config "outbox" | default dict) "path" }}
{{- fail (printf "config.outbox.path is set by the chart (%s/outbox.db, on the data volume): remove it" (include "amtriage.dataDir" .)) }}
{{- end }}
{{- $rendered := include "amtriage.config" . }}
{{- range regexFindAll `(?m)^\s*(?:- )?(api_key|bearer_token|password|token|key|routing_key):[ \t]*[^ \t\n].*$` $rendered -1 }}
{{- $value := regexReplaceAll `^[^:]*:[ \t]*` . "" | trim }}
{{- if not (or (hasPrefix "${" $value) (has $value (list "null" "~" "\"\"" "''"))) }}
{{- $field := regexReplaceAll `^\s*(?:- )?([a-z_]+):.*$` . "${1}" }}
{{- fail (printf "config: %s would put a secret into the ConfigMap; put it into secrets.stringData (or your existingSecret) and refer to it as %s_file: %s/<key>" $field $field (include "amtriage.secretsDir" .)) }}
{{- end }}
{{- end }}
{{- if not $v.secrets.existingSecret }}
{{- $have := include "amtriage.secretData" . | fromYaml }}
{{- $prefix := printf "%s/" (include "amtriage.secretsDir" .) }}
{{- range regexFindAll (printf `%s[-._a-zA-Z0-9]+` (regexQuoteMeta $prefix)) $rendered -1 }}
{{- $key := trimPrefix $prefix . }}
{{- if not (hasKey $have $key) }}
{{- fail (printf "the config refers to %s but the chart's Secret has no key %q: add it to secrets.stringData (or use secrets.existingSecret)" . $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
