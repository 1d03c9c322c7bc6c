{{/* The release's base name: every object is named <fullname>-<part>. */}}
{{- define "nsight-lab.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "nsight-lab.labels" -}}
app.kubernetes.io/name: nsight-lab
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "nsight-lab.operatorSelector" -}}
app.kubernetes.io/name: nsight-lab
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "nsight-lab.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "nsight-lab.gatewayName" -}}{{ include "nsight-lab.fullname" . }}-gateway{{- end -}}
{{- define "nsight-lab.storageName" -}}{{ include "nsight-lab.fullname" . }}-storage{{- end -}}
{{- define "nsight-lab.coordinatorName" -}}{{ include "nsight-lab.fullname" . }}-coordinator{{- end -}}
{{- define "nsight-lab.analysisName" -}}{{ include "nsight-lab.fullname" . }}-analysis{{- end -}}
{{- define "nsight-lab.uiName" -}}{{ include "nsight-lab.fullname" . }}-ui{{- end -}}
{{- define "nsight-lab.webhookName" -}}{{ include "nsight-lab.fullname" . }}-injector{{- end -}}
{{- define "nsight-lab.apikeySecret" -}}{{ include "nsight-lab.fullname" . }}-gateway-apikey{{- end -}}
{{- define "nsight-lab.oauth2Secret" -}}{{ include "nsight-lab.fullname" . }}-gateway-oauth2{{- end -}}

{{/* The IP address in nsight-injector.url, if its host is one (it goes into the certificate). */}}
{{- define "nsight-lab.webhookIP" -}}
{{- with (index .Values "nsight-injector").url -}}
{{- $host := (urlParse .).host | splitList ":" | first -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+){3}$" $host -}}{{ $host }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* The webhook port: the one in nsight-injector.url, else 9443. */}}
{{- define "nsight-lab.webhookPort" -}}
{{- $port := "9443" -}}
{{- with (index .Values "nsight-injector").url -}}
{{- $parts := (urlParse .).host | splitList ":" -}}
{{- if gt (len $parts) 1 -}}{{- $port = last $parts -}}{{- end -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/* A persistence block for a CR: storageClassName only when set ("" would mean "no class"). */}}
{{- define "nsight-lab.persistence" -}}
enabled: {{ .enabled }}
size: {{ .size | quote }}
{{- with .storageClassName }}
storageClassName: {{ . | quote }}
{{- end }}
{{- end -}}
