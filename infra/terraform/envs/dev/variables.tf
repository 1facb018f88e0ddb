variable "kubeconfig_path" {
  description = "kubeconfig of the dev cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context of the dev cluster (one cluster per environment)."
  type        = string
  default     = "ticketgw-dev"
}

variable "install_custom_resources" {
  description = "false for the very first apply on a new cluster (charts and CRDs only), then true. README.md, \"Applying\"."
  type        = bool
  default     = true
}
