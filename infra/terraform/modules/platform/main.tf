# Everything one environment's cluster runs around the functions. Each env root
# (envs/<env>) calls this module once with its sizes and pinned chart versions.
#
# First apply on a new cluster: install_custom_resources = false installs the
# namespaces, NetworkPolicies and charts (with their CRDs) but no custom
# resource, because kubernetes_manifest needs a resource's CRD at plan time.
# The second apply (the default, true) adds the custom resources
# (KnativeServing, RabbitmqCluster, CloudNativePG Cluster, ClusterIssuers,
# the Argo CD Application, ...). README.md, "Applying".

locals {
  app_namespace  = "ticketgw-${var.environment}"
  data_namespace = "ticketgw-${var.environment}-data"
  cr             = var.install_custom_resources
  # Name of the Secret (keys ACCESS_KEY_ID, ACCESS_SECRET_KEY) the operator creates
  # in the data and keycloak namespaces for the backups (README.md, "Secrets").
  backup_credentials = "backup-s3-credentials"
}

module "namespaces" {
  source = "../namespaces"

  environment    = var.environment
  app_namespace  = local.app_namespace
  data_namespace = local.data_namespace
  app_quota      = var.app_quota
}

module "network_policies" {
  source = "../network-policies"

  app_namespace         = local.app_namespace
  data_namespace        = local.data_namespace
  postgres_cluster_name = "ticketgw-pg"
  rabbitmq_cluster_name = "ticketgw-rabbitmq"

  depends_on = [module.namespaces]
}

module "monitoring" {
  source = "../monitoring"

  kube_prometheus_stack_version = var.chart_versions.kube_prometheus_stack
  loki_version                  = var.chart_versions.loki
  alloy_version                 = var.chart_versions.alloy
  prometheus_retention          = var.sizes.prometheus_retention
  prometheus_storage            = var.sizes.prometheus_storage
  prometheus_replicas           = var.sizes.prometheus_replicas
  alertmanager_replicas         = var.sizes.alertmanager_replicas
  loki_retention                = var.sizes.loki_retention
  loki_storage                  = var.sizes.loki_storage
  grafana_hostname              = "grafana.${var.domain}"
  ingress_class                 = module.ingress.ingress_class
  cluster_issuer                = var.cluster_issuer
  install_custom_resources      = local.cr

  depends_on = [module.namespaces]
}

module "ingress" {
  source = "../ingress"

  chart_version            = var.chart_versions.traefik
  replicas                 = var.sizes.ingress_replicas
  install_custom_resources = local.cr

  depends_on = [module.namespaces]
}

module "cert_manager" {
  source = "../cert-manager"

  chart_version            = var.chart_versions.cert_manager
  replicas                 = var.sizes.operator_replicas
  acme_email               = var.acme_email
  http01_ingress_class     = module.ingress.ingress_class
  install_custom_resources = local.cr

  depends_on = [module.namespaces]
}

module "postgres" {
  source = "../postgres"

  operator_chart_version    = var.chart_versions.cloudnative_pg
  name                      = "ticketgw-pg"
  namespace                 = local.data_namespace
  postgres_version          = var.postgres_version
  instances                 = var.sizes.postgres_instances
  database                  = "ticketgw"
  owner                     = "ticketgw"
  max_connections           = var.sizes.postgres_max_connections
  shared_buffers            = var.sizes.postgres_shared_buffers
  cpu                       = var.sizes.postgres_cpu
  memory                    = var.sizes.postgres_memory
  storage                   = var.sizes.postgres_storage
  wal_storage               = var.sizes.postgres_wal_storage
  backup_destination        = "${var.backup_bucket}/${var.environment}/ticketgw-pg"
  backup_endpoint_url       = var.backup_endpoint_url
  backup_credentials_secret = local.backup_credentials
  backup_retention          = var.sizes.backup_retention
  install_custom_resources  = local.cr

  depends_on = [module.namespaces, module.monitoring]
}

module "rabbitmq" {
  source = "../rabbitmq"

  operator_chart_version   = var.chart_versions.rabbitmq_cluster_operator
  name                     = "ticketgw-rabbitmq"
  namespace                = local.data_namespace
  replicas                 = var.sizes.rabbitmq_replicas
  cpu                      = var.sizes.rabbitmq_cpu
  memory                   = var.sizes.rabbitmq_memory
  storage                  = var.sizes.rabbitmq_storage
  install_custom_resources = local.cr
  # The Broker `ticketgw` (infra/knative/eventing) lives with the functions.
  topology_allowed_namespaces = [local.app_namespace]

  depends_on = [module.namespaces, module.cert_manager, module.monitoring]
}

module "knative" {
  source = "../knative"

  operator_chart_version    = var.chart_versions.knative_operator
  knative_version           = var.knative_version
  eventing_rabbitmq_version = var.eventing_rabbitmq_version
  ha_replicas               = var.sizes.operator_replicas
  functions_domain          = "fn.${var.domain}"
  cluster_issuer            = var.cluster_issuer
  app_namespace             = local.app_namespace
  rabbitmq_cluster_name     = module.rabbitmq.name
  rabbitmq_namespace        = local.data_namespace
  install_custom_resources  = local.cr

  depends_on = [module.namespaces, module.cert_manager, module.rabbitmq]
}

module "keycloak" {
  source = "../keycloak"

  chart_version             = var.chart_versions.keycloakx
  hostname                  = "sso.${var.domain}"
  replicas                  = var.sizes.keycloak_replicas
  import_test_users         = var.import_test_users
  ingress_class             = module.ingress.ingress_class
  cluster_issuer            = var.cluster_issuer
  postgres_version          = var.postgres_version
  db_instances              = var.sizes.keycloak_db_instances
  backup_destination        = "${var.backup_bucket}/${var.environment}/keycloak-db"
  backup_endpoint_url       = var.backup_endpoint_url
  backup_credentials_secret = local.backup_credentials
  install_custom_resources  = local.cr

  depends_on = [module.namespaces, module.postgres]
}

module "gitops" {
  source = "../gitops"

  environment              = var.environment
  chart_version            = var.chart_versions.argo_cd
  hostname                 = "argocd.${var.domain}"
  ingress_class            = module.ingress.ingress_class
  cluster_issuer           = var.cluster_issuer
  install_custom_resources = local.cr

  depends_on = [module.namespaces, module.knative, module.keycloak]
}
