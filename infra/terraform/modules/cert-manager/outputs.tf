output "issuers" {
  description = "Names of the ClusterIssuers: letsencrypt (production) and letsencrypt-staging (untrusted, no rate limits)."
  value       = keys(local.acme_servers)
}
