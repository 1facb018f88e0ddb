variable "chart_version" {
  description = "Version of the jetstack/cert-manager chart."
  type        = string
}

variable "replicas" {
  description = "Controller replicas."
  type        = number
  default     = 1
}

variable "acme_email" {
  description = "Contact address of the Let's Encrypt account (expiry warnings)."
  type        = string
}

variable "http01_ingress_class" {
  description = "IngressClass that answers the HTTP-01 challenges."
  type        = string
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (the CRDs do not exist yet at plan time)."
  type        = bool
}
