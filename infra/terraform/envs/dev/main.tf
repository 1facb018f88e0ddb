# The dev environment: its own cluster (kube context "ticketgw-dev"), the
# functions in namespace ticketgw-dev, PostgreSQL and RabbitMQ in
# ticketgw-dev-data. Every value here is non-secret; secrets are Kubernetes
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

  environment               = "dev"
  domain                    = "dev.ticketgw.example.com"
  acme_email                = "ops@ticketgw.example.com"
  cluster_issuer            = "letsencrypt-staging"
  import_test_users         = true
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

  # Small and cheap: one of everything, short retention.
  sizes = {
    operator_replicas        = 1
    ingress_replicas         = 1
    postgres_instances       = 1
    postgres_max_connections = 100
    postgres_shared_buffers  = "128MB"
    postgres_cpu             = "250m"
    postgres_memory          = "512Mi"
    postgres_storage         = "5Gi"
    postgres_wal_storage     = "2Gi"
    backup_retention         = "7d"
    rabbitmq_replicas        = 1
    rabbitmq_cpu             = "500m"
    rabbitmq_memory          = "1Gi"
    rabbitmq_storage         = "5Gi"
    keycloak_replicas        = 1
    keycloak_db_instances    = 1
    prometheus_replicas      = 1
    prometheus_retention     = "3d"
    prometheus_storage       = "10Gi"
    alertmanager_replicas    = 1
    loki_retention           = "72h"
    loki_storage             = "10Gi"
  }

  app_quota = {
    limits_cpu      = "16"
    limits_memory   = "8Gi"
    requests_cpu    = "4"
    requests_memory = "4Gi"
    pods            = "60"
  }
}

output "platform" {
  description = "Namespaces, issuer and the names of the generated Secrets of this environment."
  value       = module.platform
}
