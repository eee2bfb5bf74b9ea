{{- define "kube-automl.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kube-automl.serviceAccountName" -}}
{{- default (include "kube-automl.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "kube-automl.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kube-automl.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kube-automl.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) -}}
{{- end -}}

{{/* The rules the operator needs in each namespace it watches; nothing wildcarded. */}}
{{- define "kube-automl.namespacedRules" -}}
# The resource it serves: watch it, add/remove its finalizer, write its status.
- apiGroups: ["automl.dev"]
  resources: ["automljobs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["automl.dev"]
  resources: ["automljobs/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion need this where OwnerReferencesPermissionEnforcement is on.
- apiGroups: ["automl.dev"]
  resources: ["automljobs/finalizers"]
  verbs: ["update"]
# Prepare, candidate and finalize Jobs: created, watched, deleted when the search ends.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# Their pods' termination messages (results and errors); read-only.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
# The Secret named in spec.data.credentialsSecret, to read the run's results in storage.
# get only: the operator cannot list or watch Secrets.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# The prediction service.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "create", "patch"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "create"]
# Events on AutoMLJobs (phase changes, failed candidates) and kopf's own.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
