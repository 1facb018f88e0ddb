# Traefik, the ingress controller of the cluster's plain Ingresses (Keycloak,
# Grafana, Argo CD) and of the ACME HTTP-01 challenges. The functions' routes
# go through Kourier instead, which the Knative operator installs (module
# knative). Plain HTTP redirects to HTTPS.

resource "helm_release" "traefik" {
  name       = "traefik"
  repository = "https://traefik.github.io/charts"
  chart      = "traefik"
  version    = var.chart_version
  namespace  = "traefik"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    deployment = { replicas = var.replicas }
    podDisruptionBudget = {
      enabled        = var.replicas > 1
      maxUnavailable = 1
    }
    ingressClass = {
      enabled        = true
      isDefaultClass = true
      name           = var.ingress_class
    }
    ports = {
      web = {
        redirections = {
          entryPoint = { to = "websecure", scheme = "https", permanent = true }
        }
      }
    }
    logs    = { access = { enabled = true } }
    metrics = { prometheus = { serviceMonitor = { enabled = var.install_custom_resources } } }
  })]
}
