variable "environment" {
  description = "dev, staging or prod: names the namespaces (ticketgw-<env>, ticketgw-<env>-data) and picks infra/argocd/<env>.yaml."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "domain" {
  description = "DNS zone of the environment: sso.<domain> (Keycloak), grafana.<domain>, argocd.<domain>, <function>.<namespace>.fn.<domain>."
  type        = string
}

variable "acme_email" {
  description = "Let's Encrypt account contact."
  type        = string
}

variable "cluster_issuer" {
  description = "ClusterIssuer for every certificate: letsencrypt or letsencrypt-staging."
  type        = string

  validation {
    condition     = contains(["letsencrypt", "letsencrypt-staging"], var.cluster_issuer)
    error_message = "cluster_issuer must be letsencrypt or letsencrypt-staging."
  }
}

variable "import_test_users" {
  description = "Import the Keycloak realm's test users (published passwords). dev and staging only."
  type        = bool
}

variable "backup_bucket" {
  description = "Object store prefix of the PostgreSQL backups, e.g. s3://ticketgw-backups."
  type        = string
}

variable "backup_endpoint_url" {
  description = "S3-compatible endpoint (null for AWS S3)."
  type        = string
  default     = null
}

variable "postgres_version" {
  description = "PostgreSQL image tag (ghcr.io/cloudnative-pg/postgresql)."
  type        = string
}

variable "knative_version" {
  description = "Knative Serving and Eventing version."
  type        = string
}

variable "eventing_rabbitmq_version" {
  description = "eventing-rabbitmq release providing the RabbitMQ broker."
  type        = string
}

variable "chart_versions" {
  description = "Pinned version of every Helm chart (each env pins its own, so an upgrade goes dev, staging, prod)."
  type = object({
    cert_manager              = string
    traefik                   = string
    knative_operator          = string
    rabbitmq_cluster_operator = string
    cloudnative_pg            = string
    keycloakx                 = string
    kube_prometheus_stack     = string
    loki                      = string
    alloy                     = string
    argo_cd                   = string
  })
}

variable "sizes" {
  description = "Replicas, resources and retention of the environment."
  type = object({
    operator_replicas        = number
    ingress_replicas         = number
    postgres_instances       = number
    postgres_max_connections = number
    postgres_shared_buffers  = string
    postgres_cpu             = string
    postgres_memory          = string
    postgres_storage         = string
    postgres_wal_storage     = string
    backup_retention         = string
    rabbitmq_replicas        = number
    rabbitmq_cpu             = string
    rabbitmq_memory          = string
    rabbitmq_storage         = string
    keycloak_replicas        = number
    keycloak_db_instances    = number
    prometheus_replicas      = number
    prometheus_retention     = string
    prometheus_storage       = string
    alertmanager_replicas    = number
    loki_retention           = string
    loki_storage             = string
  })
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

variable "install_custom_resources" {
  description = "false for the first apply on a new cluster (charts and CRDs only), true afterwards."
  type        = bool
  default     = true
}
