{{/* The chart name, or nameOverride. */}}
{{- define "signet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name every object of the release carries: fullnameOverride, or the release name (with the chart name when the release name lacks it). */}}
{{- define "signet.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "signet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "signet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: signet
{{- end -}}

{{/* Labels that select the webhook pods. */}}
{{- define "signet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "signet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{/* The service account the pods run as. */}}
{{- define "signet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "signet.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The service account the scan CronJob's pods run as: continuousVerification.cronJob.serviceAccountName
when given; else one of its own when the chart creates both service accounts and RBAC (it reads
what a decision reads and writes reports, nothing the webhook alone does); else the webhook's,
which the RBAC someone else manages is bound to. */}}
{{- define "signet.scanServiceAccountName" -}}
{{- if .Values.continuousVerification.cronJob.serviceAccountName -}}
{{- .Values.continuousVerification.cronJob.serviceAccountName -}}
{{- else if and .Values.serviceAccount.create .Values.rbac.create -}}
{{- printf "%s-scan" (include "signet.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- include "signet.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{/* Whether the chart creates the scan's own service account. */}}
{{- define "signet.createsScanServiceAccount" -}}
{{- and .Values.continuousVerification.cronJob.enabled .Values.serviceAccount.create .Values.rbac.create (not .Values.continuousVerification.cronJob.serviceAccountName) -}}
{{- end -}}

{{/* The service accounts that verify images, as RBAC subjects: the webhook's, and the scan
CronJob's when it runs as another. */}}
{{- define "signet.verifierSubjects" -}}
- kind: ServiceAccount
  name: {{ include "signet.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- $scan := include "signet.scanServiceAccountName" . }}
{{- if and .Values.continuousVerification.cronJob.enabled (ne $scan (include "signet.serviceAccountName" .)) }}
- kind: ServiceAccount
  name: {{ $scan }}
  namespace: {{ .Release.Namespace }}
{{- end }}
{{- end -}}

{{/* The cluster-wide reads a decision needs (the webhook's and the scan's alike): signet's
resources and the namespaces they select, the running Pods when `pods` is true, the
PolicyReports when they are written, and each owner of an owner chain by name. */}}
{{- define "signet.decisionReadRules" -}}
- apiGroups: ["signet.dev"]
  resources: ["clusterimagepolicies", "policyexceptions", "emergencybypasses"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- if .pods }}
# Continuous verification lists the running Pods (never reads a Pod by name).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- end }}
{{- if .root.Values.policyReports.enabled }}
# One signet PolicyReport per namespace and a ClusterPolicyReport, updated in place.
- apiGroups: ["wgpolicyk8s.io"]
  resources: ["policyreports", "clusterpolicyreports"]
  verbs: ["get", "list", "create", "update"]
{{- end }}
{{- if .root.Values.rbac.readPodControllers }}
# Owner chains: a PolicyException for a controller (Deployment, CronJob, ...) exempts the Pods
# it creates only after signet has read each owner (get, by name) and found the UID the Pod's
# ownerReference claims.
- apiGroups: ["apps"]
  resources: ["replicasets", "deployments", "statefulsets", "daemonsets"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs", "cronjobs"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["replicationcontrollers"]
  verbs: ["get"]
{{- end }}
{{- end -}}

{{/* The image reference: by digest when one is given, else by tag (appVersion by default). */}}
{{- define "signet.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret that holds the serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "signet.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- required "tls.secret.name is required when tls.mode is secret" .Values.tls.secret.name -}}
{{- else -}}
{{- printf "%s-tls" (include "signet.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* DNS names the API server uses to reach the Service (and the host of webhook.url when it is a name). */}}
{{- define "signet.dnsNames" -}}
{{- $svc := include "signet.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) -}}
{{- $host := include "signet.urlHost" . -}}
{{- if and $host (not (include "signet.urlHostIsIP" .)) -}}
{{- $names = append $names $host | uniq -}}
{{- end -}}
{{- $names | toJson -}}
{{- end -}}

{{/* IP addresses the serving certificate covers: the host of webhook.url when it is one. */}}
{{- define "signet.ipAddresses" -}}
{{- if include "signet.urlHostIsIP" . -}}
{{- list (include "signet.urlHost" .) | toJson -}}
{{- else -}}
{{- list | toJson -}}
{{- end -}}
{{- end -}}

{{/* The host of webhook.url, without port or IPv6 brackets; empty when the Service is called. */}}
{{- define "signet.urlHost" -}}
{{- if .Values.webhook.url -}}
{{- regexReplaceAll ":[0-9]+$" (urlParse .Values.webhook.url).host "" | trimPrefix "[" | trimSuffix "]" -}}
{{- end -}}
{{- end -}}

{{/* Whether the host of webhook.url is an IP address (an IP SAN) rather than a DNS name. */}}
{{- define "signet.urlHostIsIP" -}}
{{- $host := include "signet.urlHost" . -}}
{{- if and $host (regexMatch "^[0-9.]+$|:" $host) -}}true{{- end -}}
{{- end -}}

{{/* The longest one review may take: the webhook timeout less one second, so signet answers before the API server gives up. */}}
{{- define "signet.maxAdmissionSeconds" -}}
{{- sub (int .Values.webhook.timeoutSeconds) 1 -}}
{{- end -}}

{{/* Pod termination: the readiness drain, then requests in flight, then a margin for the process to exit. */}}
{{- define "signet.terminationGracePeriodSeconds" -}}
{{- add (int .Values.server.shutdownDelaySeconds) (int .Values.server.shutdownGracePeriodSeconds) (int .Values.server.terminationMarginSeconds) -}}
{{- end -}}

{{/* Whether signet talks to the API server: with the kubernetes policy source, where it reads its resources and, when allowed, image pull Secrets; for the console's and /metrics' token reviews. */}}
{{- define "signet.usesAPIServer" -}}
{{- if or (eq .Values.policies.source "kubernetes") .Values.console.enabled (eq (include "signet.metricsAuth" .) "kubernetes") -}}true{{- end -}}
{{- end -}}

{{/* Who may read /metrics (--metrics-auth): metrics.auth, or when empty kubernetes with the kubernetes policy source and none with configMap (no API access). */}}
{{- define "signet.metricsAuth" -}}
{{- $auth := .Values.metrics.auth | default "" -}}
{{- if not (has $auth (list "" "none" "kubernetes")) -}}
{{- fail (printf "metrics.auth must be none, kubernetes or empty, not %v" $auth) -}}
{{- end -}}
{{- if $auth -}}{{ $auth }}{{- else if eq .Values.policies.source "kubernetes" -}}kubernetes{{- else -}}none{{- end -}}
{{- end -}}

{{/* The label that marks the ClusterImagePolicies of this release; the webhook does not review objects that carry it with the release name. */}}
{{- define "signet.chartPolicyLabel" -}}
signet.dev/chart-release
{{- end -}}

{{/* Labels on the ClusterImagePolicies of the release (not the pod selector labels: a policy is no webhook pod). */}}
{{- define "signet.policyLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "signet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: policy
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: signet
{{ include "signet.chartPolicyLabel" . }}: {{ .Release.Name | quote }}
{{- end -}}

{{/* One ClusterImagePolicy of policies.clusterImagePolicies: dict "name" "spec" and, for an object of the release, "labels". */}}
{{- define "signet.clusterImagePolicy" -}}
apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: {{ .name }}
  {{- with .labels }}
  labels:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- toYaml .spec | nindent 2 }}
{{- end -}}

{{/* The no-match action: server.noMatchAction when set, else warn (enforcement.mode warn) or deny (enforce). */}}
{{- define "signet.noMatchAction" -}}
{{- if .Values.server.noMatchAction -}}
{{ .Values.server.noMatchAction }}
{{- else if eq .Values.enforcement.mode "enforce" -}}
deny
{{- else -}}
warn
{{- end -}}
{{- end }}

{{/* The image pull Secrets of the signet pods (the webhook's and the scan's): imagePullSecrets, by name. */}}
{{- define "signet.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The flags that decide an image and are the same for `signet serve` (the Deployment) and `signet scan` (the CronJob), so the scan decides as admission would: the exemption windows, the namespace opt-out and guarded labels, and the action for images no policy covers. */}}
{{- define "signet.decisionArgs" -}}
- --max-bypass-window={{ .Values.policies.maxBypassWindow }}
- --max-exception-window={{ .Values.policies.maxExceptionWindow }}
- --namespace-opt-out-label={{ .Values.webhook.optOutLabel }}
{{- with .Values.webhook.optOutGroup }}
- --namespace-opt-out-group={{ . }}
{{- end }}
{{- with .Values.webhook.guardedNamespaceLabels }}
- --guarded-namespace-labels={{ join "," . }}
{{- end }}
{{- with .Values.policies.ownerReferenceWriters }}
- --owner-reference-writers={{ join "," . }}
{{- end }}
- --no-match-action={{ include "signet.noMatchAction" . }}
{{- end -}}

{{/* The trust material flags `signet serve` and `signet scan` share: how registries are reached (CA bundle, plain-HTTP registries, credentials, the memory budget of their answers), whether Notation CRLs are downloaded, where the Secrets and ConfigMaps policies name are read, and the Sigstore trusted root kept current through TUF. The files they name are mounted by signet.verificationVolumeMounts. */}}
{{- define "signet.trustArgs" -}}
{{- if .Values.registry.caBundle.configMap }}
- --registry-ca-bundle=/etc/signet/registry-ca/{{ .Values.registry.caBundle.key }}
{{- end }}
{{- range .Values.registry.insecureRegistries }}
- --allow-insecure-registry={{ . }}
{{- end }}
{{- if .Values.registry.dockerConfigSecret }}
- --docker-config=/etc/signet/docker/config.json
{{- end }}
- --max-buffered-registry-bytes={{ int64 .Values.registry.maxBufferedBytes }}
- --notation-crl-downloads={{ .Values.notation.crlDownloads }}
{{- if eq .Values.keySecretsSource "api" }}
{{- if ne .Values.policies.source "kubernetes" }}
{{- fail "keySecretsSource api reads Secrets through the API: it needs policies.source kubernetes" }}
{{- end }}
- --key-secrets-source=api
{{- end }}
{{- with .Values.sigstoreTUF }}
{{- if .enabled }}
- --sigstore-tuf
{{- with .mirror }}
- --sigstore-tuf-mirror={{ . }}
{{- end }}
- --sigstore-tuf-refresh-interval={{ .refreshInterval }}
- --sigstore-tuf-cache-dir=/var/cache/signet/tuf
{{- if .caBundle.configMap }}
- --sigstore-tuf-ca-bundle=/etc/signet/tuf-ca/{{ .caBundle.key }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The alert flags `signet serve` and `signet scan` share (the Secret of URLs is mounted by signet.verificationVolumeMounts). */}}
{{- define "signet.alertArgs" -}}
{{- if .Values.alerts.enabled }}
{{- if not .Values.alerts.secretName }}
{{- fail "alerts.enabled needs alerts.secretName (a Secret of webhook URLs, one per line)" }}
{{- end }}
- --alert-webhook-urls-file=/etc/signet/alerts/{{ .Values.alerts.secretKey }}
- --alert-format={{ .Values.alerts.format }}
- --alert-dedup-window={{ .Values.alerts.dedupWindow }}
{{- end }}
{{- end -}}

{{/* The volume mounts of the signet container that `signet serve` and `signet scan` share: /tmp, the alert URLs, the registry CA bundle and credentials, the Sigstore TUF cache and CA bundle, the key Secrets and trust ConfigMaps (keySecretsSource directory) and extraVolumeMounts. */}}
{{- define "signet.verificationVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.alerts.enabled }}
- name: alerts
  mountPath: /etc/signet/alerts
  readOnly: true
{{- end }}
{{- if .Values.registry.caBundle.configMap }}
- name: registry-ca
  mountPath: /etc/signet/registry-ca
  readOnly: true
{{- end }}
{{- if .Values.registry.dockerConfigSecret }}
- name: docker-config
  mountPath: /etc/signet/docker
  readOnly: true
{{- end }}
{{- if .Values.sigstoreTUF.enabled }}
- name: sigstore-tuf-cache
  mountPath: /var/cache/signet/tuf
{{- if .Values.sigstoreTUF.caBundle.configMap }}
- name: sigstore-tuf-ca
  mountPath: /etc/signet/tuf-ca
  readOnly: true
{{- end }}
{{- end }}
{{- if eq .Values.keySecretsSource "directory" }}
{{- range .Values.keySecrets }}
{{- if contains "/" . }}
{{- fail (printf "keySecrets %s: a pod mounts Secrets of its own namespace only; use keySecretsSource api for another namespace" .) }}
{{- end }}
- name: key-secret-{{ . }}
  mountPath: /etc/signet/key-secrets/{{ $.Release.Namespace }}/{{ . }}
  readOnly: true
{{- end }}
{{- range .Values.trustConfigMaps }}
{{- if contains "/" . }}
{{- fail (printf "trustConfigMaps %s: a pod mounts ConfigMaps of its own namespace only; use keySecretsSource api for another namespace" .) }}
{{- end }}
- name: trust-configmap-{{ . }}
  mountPath: /etc/signet/configmaps/{{ $.Release.Namespace }}/{{ . }}
  readOnly: true
{{- end }}
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The volumes behind signet.verificationVolumeMounts, the same in the webhook's pod and the scan's (the TUF cache an emptyDir: a scan fetches and verifies the metadata once). */}}
{{- define "signet.verificationVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- if .Values.alerts.enabled }}
- name: alerts
  secret:
    secretName: {{ .Values.alerts.secretName }}
{{- end }}
{{- with .Values.registry.caBundle.configMap }}
- name: registry-ca
  configMap:
    name: {{ . }}
{{- end }}
{{- with .Values.registry.dockerConfigSecret }}
- name: docker-config
  secret:
    secretName: {{ . }}
    items:
      - key: .dockerconfigjson
        path: config.json
{{- end }}
{{- with .Values.sigstoreTUF }}
{{- if .enabled }}
- name: sigstore-tuf-cache
  emptyDir:
    sizeLimit: {{ .cacheSizeLimit }}
{{- with .caBundle.configMap }}
- name: sigstore-tuf-ca
  configMap:
    name: {{ . }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq .Values.keySecretsSource "directory" }}
{{- range .Values.keySecrets }}
- name: key-secret-{{ . }}
  secret:
    secretName: {{ . }}
{{- end }}
{{- range .Values.trustConfigMaps }}
- name: trust-configmap-{{ . }}
  configMap:
    name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The namespaces the ValidatingWebhookConfiguration leaves out: kube-system, the release's, webhook.excludeNamespaces and, with cert-manager, its namespace. Scans report what admission would deny there as warn, without an alert (--webhook-excluded-namespaces). */}}
{{- define "signet.webhookExcludedNamespaces" -}}
{{- if eq .Release.Namespace "default" -}}
{{- fail "signet's webhooks leave its own namespace out (so its pods can always start), and this release is in namespace default: every Pod there would run unchecked. Install signet into a namespace of its own (helm install signet charts/signet --namespace signet-system --create-namespace)" -}}
{{- end -}}
{{- $namespaces := concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces -}}
{{- if and (eq .Values.tls.mode "certManager") .Values.webhook.certManagerNamespace -}}
{{- $namespaces = append $namespaces .Values.webhook.certManagerNamespace -}}
{{- end -}}
{{- $namespaces | uniq | join "," -}}
{{- end -}}
