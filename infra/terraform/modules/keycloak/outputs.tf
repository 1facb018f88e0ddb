output "issuer" {
  description = "OIDC issuer of the ticketgw realm (TICKETGW_OIDC_ISSUER)."
  value       = "https://${var.hostname}/realms/ticketgw"
}

output "imported_users" {
  description = "Usernames the realm import creates."
  value       = [for user in local.realm_users : user.username]
}
