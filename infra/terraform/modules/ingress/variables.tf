variable "chart_version" {
  description = "Version of the traefik/traefik chart."
  type        = string
}

variable "replicas" {
  description = "Traefik replicas."
  type        = number
  default     = 1
}

variable "ingress_class" {
  description = "Name of the IngressClass Traefik serves."
  type        = string
  default     = "traefik"
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (ServiceMonitor CRD not there yet)."
  type        = bool
}
