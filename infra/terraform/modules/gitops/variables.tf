variable "environment" {
  description = "Environment name; applies infra/argocd/<environment>.yaml."
  type        = string
}

variable "chart_version" {
  description = "Version of the argo/argo-cd chart."
  type        = string
}

variable "hostname" {
  description = "Public host of the Argo CD UI and API (the pipeline's ARGOCD_SERVER)."
  type        = string
}

variable "ingress_class" {
  description = "IngressClass of the Argo CD route."
  type        = string
}

variable "cluster_issuer" {
  description = "cert-manager ClusterIssuer of the Argo CD certificate."
  type        = string
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (the Argo CD CRDs do not exist yet at plan time)."
  type        = bool
}
