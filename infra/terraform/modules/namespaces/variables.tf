variable "environment" {
  description = "Environment name: dev, staging or prod."
  type        = string
}

variable "app_namespace" {
  description = "Namespace of the functions (Argo CD syncs infra/overlays/<env> into it)."
  type        = string
}

variable "data_namespace" {
  description = "Namespace of PostgreSQL and RabbitMQ."
  type        = string
}

variable "app_quota" {
  description = "ResourceQuota of the functions' namespace."
  type = object({
    limits_cpu      = string
    limits_memory   = string
    requests_cpu    = string
    requests_memory = string
    pods            = string
  })
}
