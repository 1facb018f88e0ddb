output "app_namespace" {
  description = "Namespace of the functions (infra/overlays/<env> sets the same)."
  value       = local.app_namespace
}

output "data_namespace" {
  description = "Namespace of PostgreSQL and RabbitMQ."
  value       = local.data_namespace
}

output "oidc_issuer" {
  description = "TICKETGW_OIDC_ISSUER for the overlay of this environment."
  value       = module.keycloak.issuer
}

output "postgres_rw_host" {
  description = "Host for DATABASE_URL in the Secret ticketgw-secrets."
  value       = module.postgres.rw_host
}

output "postgres_app_secret" {
  description = "Secret (in the data namespace) holding the generated database password and URI."
  value       = module.postgres.app_secret
}

output "rabbitmq_default_user_secret" {
  description = "Secret (in the data namespace) holding RabbitMQ's generated credentials."
  value       = module.rabbitmq.default_user_secret
}
