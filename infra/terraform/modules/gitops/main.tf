# Argo CD and the Ticket Gateway application of this environment. The
# Application and AppProject are the files in infra/argocd/ (validated by
# .ci/validate-manifests), applied as they are: Terraform does not keep a
# second copy of them.

resource "helm_release" "argocd" {
  name       = "argocd"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argo-cd"
  version    = var.chart_version
  namespace  = "argocd"
  atomic     = true
  timeout    = 900

  values = [yamlencode({
    global = { domain = var.hostname }
    configs = {
      params = { "server.insecure" = true } # TLS ends at the ingress
    }
    server = {
      ingress = {
        enabled          = true
        ingressClassName = var.ingress_class
        annotations      = { "cert-manager.io/cluster-issuer" = var.cluster_issuer }
        tls              = true
      }
      metrics = { enabled = true, serviceMonitor = { enabled = var.install_custom_resources } }
    }
    controller = {
      metrics = { enabled = true, serviceMonitor = { enabled = var.install_custom_resources } }
    }
  })]
}

resource "kubernetes_manifest" "project" {
  count = var.install_custom_resources ? 1 : 0

  manifest   = yamldecode(file("${path.module}/../../../argocd/project.yaml"))
  depends_on = [helm_release.argocd]
}

resource "kubernetes_manifest" "application" {
  count = var.install_custom_resources ? 1 : 0

  manifest   = yamldecode(file("${path.module}/../../../argocd/${var.environment}.yaml"))
  depends_on = [kubernetes_manifest.project]
}
