# The prod environment: its own cluster (kube context "ticketgw-prod"), the
# functions in namespace ticketgw-prod, PostgreSQL and RabbitMQ in
# ticketgw-prod-data. Every value here is non-secret; secrets are Kubernetes
# Secrets created before the apply (../../README.md, "Secrets").

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

provider "helm" {
  kubernetes {
    config_path    = var.kubeconfig_path
    config_context = var.kube_context
  }
}

module "platform" {
  source = "../../modules/platform"

  environment               = "prod"
  domain                    = "ticketgw.example.com"
  acme_email                = "ops@ticketgw.example.com"
  cluster_issuer            = "letsencrypt"
  import_test_users         = false
  backup_bucket             = "s3://ticketgw-backups"
  postgres_version          = "17.5"
  knative_version           = "1.18.0"
  eventing_rabbitmq_version = "1.18.0"
  install_custom_resources  = var.install_custom_resources

  # Pinned chart versions. Upgrade here first in dev, then staging, then prod.
  chart_versions = {
    cert_manager              = "v1.17.2"
    traefik                   = "34.4.1"
    knative_operator          = "v1.18.0"
    rabbitmq_cluster_operator = "4.4.3"
    cloudnative_pg            = "0.26.1"
    keycloakx                 = "7.0.1"
    kube_prometheus_stack     = "72.6.2"
    loki                      = "6.29.0"
    alloy                     = "1.0.3"
    argo_cd                   = "8.0.0"
  }

  # Replicated everywhere; the functions connect to PostgreSQL at most
  # sum(max-scale) x TICKETGW_DB_POOL_SIZE times (infra/overlays/prod and its
  # onsale component stay under max_connections = 400).
  sizes = {
    operator_replicas        = 2
    ingress_replicas         = 3
    postgres_instances       = 3
    postgres_max_connections = 400
    postgres_shared_buffers  = "2GB"
    postgres_cpu             = "2"
    postgres_memory          = "8Gi"
    postgres_storage         = "100Gi"
    postgres_wal_storage     = "20Gi"
    backup_retention         = "30d"
    rabbitmq_replicas        = 3
    rabbitmq_cpu             = "1"
    rabbitmq_memory          = "2Gi"
    rabbitmq_storage         = "20Gi"
    keycloak_replicas        = 2
    keycloak_db_instances    = 2
    prometheus_replicas      = 2
    prometheus_retention     = "30d"
    prometheus_storage       = "100Gi"
    alertmanager_replicas    = 3
    loki_retention           = "720h"
    loki_storage             = "100Gi"
  }

  app_quota = {
    limits_cpu      = "100"
    limits_memory   = "48Gi"
    requests_cpu    = "30"
    requests_memory = "24Gi"
    pods            = "200"
  }
}

output "platform" {
  description = "Namespaces, issuer and the names of the generated Secrets of this environment."
  value       = module.platform
}
