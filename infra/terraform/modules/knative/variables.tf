variable "operator_chart_version" {
  description = "Version of the knative-operator chart (https://knative.github.io/operator)."
  type        = string
}

variable "knative_version" {
  description = "Knative Serving and Eventing version the operator installs (supported by the operator version)."
  type        = string
}

variable "eventing_rabbitmq_version" {
  description = "eventing-rabbitmq release (knative-v<version>) providing the RabbitMQ broker."
  type        = string
}

variable "ha_replicas" {
  description = "Replicas of Knative's control-plane deployments."
  type        = number
  default     = 1
}

variable "functions_domain" {
  description = "Domain of the functions' routes: <service>.<namespace>.<domain>."
  type        = string
}

variable "cluster_issuer" {
  description = "cert-manager ClusterIssuer for the functions' certificates."
  type        = string
}

variable "scale_to_zero_retention" {
  description = "How long the last pod of an idle function is kept (0s: scale to zero as soon as allowed)."
  type        = string
  default     = "0s"
}

variable "app_namespace" {
  description = "Namespace of the functions (RabbitmqBrokerConfig here; the Broker comes from infra/knative via Argo CD)."
  type        = string
}

variable "rabbitmq_cluster_name" {
  description = "RabbitmqCluster backing the broker (referenced by the RabbitmqBrokerConfig)."
  type        = string
}

variable "rabbitmq_namespace" {
  description = "Namespace of the RabbitmqCluster."
  type        = string
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (the operator's CRDs do not exist yet at plan time)."
  type        = bool
}
