# The staging environment: its own cluster (kube context "ticketgw-staging"), the
# functions in namespace ticketgw-staging, PostgreSQL and RabbitMQ in
# ticketgw-staging-data. Every value here is non-secret; secrets are Kubernetes
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

  environment               = "staging"
  domain                    = "staging.ticketgw.example.com"
  acme_email                = "ops@ticketgw.example.com"
  cluster_issuer            = "letsencrypt"
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

  # The shape of prod (replicated data services) at a smaller size.
  sizes = {
    operator_replicas        = 2
    ingress_replicas         = 2
    postgres_instances       = 2
    postgres_max_connections = 200
    postgres_shared_buffers  = "512MB"
    postgres_cpu             = "1"
    postgres_memory          = "2Gi"
    postgres_storage         = "20Gi"
    postgres_wal_storage     = "5Gi"
    backup_retention         = "14d"
    rabbitmq_replicas        = 3
    rabbitmq_cpu             = "500m"
    rabbitmq_memory          = "1Gi"
    rabbitmq_storage         = "10Gi"
    keycloak_replicas        = 2
    keycloak_db_instances    = 2
    prometheus_replicas      = 1
    prometheus_retention     = "7d"
    prometheus_storage       = "30Gi"
    alertmanager_replicas    = 1
    loki_retention           = "168h"
    loki_storage             = "30Gi"
  }

  app_quota = {
    limits_cpu      = "40"
    limits_memory   = "16Gi"
    requests_cpu    = "10"
    requests_memory = "8Gi"
    pods            = "120"
  }
}

output "platform" {
  description = "Namespaces, issuer and the names of the generated Secrets of this environment."
  value       = module.platform
}
