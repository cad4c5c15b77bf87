{{/*
Named templates shared by the chart's manifests.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "enjoliver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: fullnameOverride, else
release-chart (just the release when it already contains the chart's name). */}}
{{- define "enjoliver.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "enjoliver.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "enjoliver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of the enjoliverd pods. */}}
{{- define "enjoliver.serverSelectorLabels" -}}
app.kubernetes.io/name: {{ include "enjoliver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: enjoliverd
{{- end -}}

{{/* Selector labels of the agent pods. */}}
{{- define "enjoliver.agentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "enjoliver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* Object names. */}}
{{- define "enjoliver.httpServiceName" -}}
{{- printf "%s-http" (include "enjoliver.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "enjoliver.grpcServiceName" -}}
{{- printf "%s-grpc" (include "enjoliver.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "enjoliver.agentName" -}}
{{- printf "%s-agent" (include "enjoliver.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ServiceAccount of enjoliverd. */}}
{{- define "enjoliver.serverServiceAccountName" -}}
{{- if .Values.enjoliverd.serviceAccount.create -}}
{{- default (include "enjoliver.fullname" .) .Values.enjoliverd.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.enjoliverd.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount of the agent. */}}
{{- define "enjoliver.agentServiceAccountName" -}}
{{- if .Values.agent.serviceAccount.create -}}
{{- default (include "enjoliver.agentName" .) .Values.agent.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.agent.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "enjoliver.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}

{{/* The agent's image: its own when agent.image.repository is set, else
the enjoliverd image. */}}
{{- define "enjoliver.agentImage" -}}
{{- if .Values.agent.image.repository -}}
{{- printf "%s:%s" .Values.agent.image.repository (default .Chart.AppVersion .Values.agent.image.tag | toString) -}}
{{- else -}}
{{- include "enjoliver.image" . -}}
{{- end -}}
{{- end -}}

{{/* etcd.endpoints as enjoliverd's comma-separated list. The chart never
runs enjoliverd without the cluster's etcd: without endpoints enjoliverd
would start a private etcd inside each pod, so rendering fails instead. */}}
{{- define "enjoliver.etcdEndpoints" -}}
{{- $list := join "," (default (list) .Values.etcd.endpoints) -}}
{{- required "etcd.endpoints is required: the etcd v3 client endpoints (http(s)://host:port) of the cluster that holds Enjoliver's state, e.g. --set etcd.endpoints={https://etcd-0.etcd:2379}; without them enjoliverd would start a private etcd in each pod" $list -}}
{{- end -}}

{{/* The in-cluster URLs of the two Services. */}}
{{- define "enjoliver.httpServiceURL" -}}
{{- printf "http://%s.%s.svc.%s:%v" (include "enjoliver.httpServiceName" .) .Release.Namespace .Values.clusterDomain .Values.service.http.port -}}
{{- end -}}
{{- define "enjoliver.grpcServiceAddress" -}}
{{- printf "%s.%s.svc.%s:%v" (include "enjoliver.grpcServiceName" .) .Release.Namespace .Values.clusterDomain .Values.service.grpc.port -}}
{{- end -}}

{{/* --api-uri: apiUri, else the HTTP Service's in-cluster URL. */}}
{{- define "enjoliver.apiUri" -}}
{{- default (include "enjoliver.httpServiceURL" .) .Values.apiUri -}}
{{- end -}}

{{/* Paths inside the enjoliverd container. */}}
{{- define "enjoliver.configPath" -}}/etc/enjoliver/config/enjoliver.yaml{{- end -}}
{{- define "enjoliver.backupDir" -}}/var/lib/enjoliver/backups{{- end -}}
{{- define "enjoliver.adminTokenPath" -}}/etc/enjoliver/admin-token/token{{- end -}}
{{- define "enjoliver.etcdTlsDir" -}}/etc/enjoliver/etcd-tls{{- end -}}
{{- define "enjoliver.grpcTlsDir" -}}/etc/enjoliver/grpc-tls{{- end -}}

{{/* The configuration file: chart-managed keys first, then .Values.config.
Keys the chart sets from other values (flags, mounts) are refused in
.Values.config, so that a value never silently loses to a flag. */}}
{{- define "enjoliver.configFile" -}}
{{- $managed := dict
  "etcd_endpoints" "etcd.endpoints"
  "etcd_cacert" "etcd.tls"
  "etcd_cert" "etcd.tls"
  "etcd_key" "etcd.tls"
  "listen_http" "enjoliverd.listenAddress and enjoliverd.containerPorts"
  "listen_grpc" "enjoliverd.listenAddress and enjoliverd.containerPorts"
  "grpc_tls_cert" "grpcTls"
  "grpc_tls_key" "grpcTls"
  "api_uri" "apiUri"
  "admin_token_file" "adminToken"
  "admin_token" "adminToken (a Secret, never a ConfigMap)"
  "backup_dir" "backups"
  "matchbox_path" "matchbox.path"
  "name" "the pod's name (ENJOLIVER_NAME)"
  "data_dir" "nothing: the local etcd never runs in this chart"
  "local_etcd_client_port" "nothing: the local etcd never runs in this chart"
  "local_etcd_peer_port" "nothing: the local etcd never runs in this chart"
  "etcd_bin" "nothing: the local etcd never runs in this chart" -}}
{{- range $key, $from := $managed -}}
{{- if hasKey $.Values.config $key -}}
{{- fail (printf "config.%s is set by the chart from %s; remove it from config" $key $from) -}}
{{- end -}}
{{- end -}}
{{- $file := dict "backup_dir" (include "enjoliver.backupDir" .) "matchbox_path" .Values.matchbox.path -}}
{{- toYaml (merge $file .Values.config) -}}
{{- end -}}
