# Namespaces of one environment's cluster, with Pod Security Admission levels.
# Terraform owns them (Argo CD syncs into ticketgw-<env> but never creates it),
# so labels, NetworkPolicies and quotas stay under review in this repository.

locals {
  # name => Pod Security Standard enforced in it.
  namespaces = {
    (var.app_namespace)  = "restricted" # the functions (Knative revision pods)
    (var.data_namespace) = "baseline"   # PostgreSQL (CloudNativePG) and RabbitMQ
    "keycloak"           = "restricted"
    "cert-manager"       = "restricted"
    "cnpg-system"        = "restricted"
    "rabbitmq-system"    = "restricted"
    "knative-operator"   = "restricted"
    "knative-serving"    = "baseline"
    "knative-eventing"   = "baseline"
    "kourier-system"     = "baseline"
    "traefik"            = "baseline"
    "argocd"             = "baseline"
    "monitoring"         = "privileged" # node-exporter reads the host
  }
}

resource "kubernetes_namespace_v1" "this" {
  for_each = local.namespaces

  metadata {
    name = each.key
    labels = {
      "app.kubernetes.io/managed-by"               = "terraform"
      "ticketgw.io/environment"                    = var.environment
      "pod-security.kubernetes.io/enforce"         = each.value
      "pod-security.kubernetes.io/enforce-version" = "latest"
      "pod-security.kubernetes.io/warn"            = "restricted"
      "pod-security.kubernetes.io/warn-version"    = "latest"
    }
  }
}

# Bounds what the functions can claim in total, whatever the overlays' max-scale says.
resource "kubernetes_resource_quota_v1" "app" {
  metadata {
    name      = "ticketgw-functions"
    namespace = kubernetes_namespace_v1.this[var.app_namespace].metadata[0].name
  }

  spec {
    hard = {
      "limits.cpu"      = var.app_quota.limits_cpu
      "limits.memory"   = var.app_quota.limits_memory
      "requests.cpu"    = var.app_quota.requests_cpu
      "requests.memory" = var.app_quota.requests_memory
      "pods"            = var.app_quota.pods
    }
  }
}
