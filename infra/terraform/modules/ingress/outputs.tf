output "ingress_class" {
  description = "IngressClass for Keycloak, Grafana, Argo CD and the ACME HTTP-01 solver."
  value       = var.ingress_class
}
