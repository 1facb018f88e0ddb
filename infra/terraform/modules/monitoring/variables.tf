variable "kube_prometheus_stack_version" {
  description = "Version of the prometheus-community/kube-prometheus-stack chart."
  type        = string
}

variable "loki_version" {
  description = "Version of the grafana/loki chart."
  type        = string
}

variable "alloy_version" {
  description = "Version of the grafana/alloy chart."
  type        = string
}

variable "prometheus_retention" {
  description = "How long Prometheus keeps samples."
  type        = string
}

variable "prometheus_storage" {
  description = "Prometheus volume size."
  type        = string
}

variable "prometheus_replicas" {
  description = "Prometheus replicas."
  type        = number
  default     = 1
}

variable "alertmanager_replicas" {
  description = "Alertmanager replicas (a PodDisruptionBudget is created when above 1)."
  type        = number
  default     = 1
}

variable "loki_retention" {
  description = "How long Loki keeps logs."
  type        = string
}

variable "loki_storage" {
  description = "Loki volume size."
  type        = string
}

variable "grafana_hostname" {
  description = "Public host of Grafana."
  type        = string
}

variable "ingress_class" {
  description = "IngressClass of Grafana's route."
  type        = string
}

variable "cluster_issuer" {
  description = "cert-manager ClusterIssuer of Grafana's certificate."
  type        = string
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (ServiceMonitor CRD not there yet for the other charts)."
  type        = bool
}

variable "grafana_admin_secret" {
  description = "Secret in the monitoring namespace with keys admin-user and admin-password (created by the operator)."
  type        = string
  default     = "grafana-admin"
}
