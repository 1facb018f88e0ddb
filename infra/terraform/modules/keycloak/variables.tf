variable "chart_version" {
  description = "Version of the codecentric/keycloakx chart."
  type        = string
}

variable "namespace" {
  description = "Namespace of Keycloak (the functions' NetworkPolicies and TICKETGW_OIDC_JWKS_URL name `keycloak`)."
  type        = string
  default     = "keycloak"
}

variable "hostname" {
  description = "Public host of Keycloak; the issuer is https://<hostname>/realms/ticketgw (TICKETGW_OIDC_ISSUER of the overlay)."
  type        = string
}

variable "replicas" {
  description = "Keycloak replicas (clustered through Infinispan with DNS discovery)."
  type        = number
}

variable "import_test_users" {
  description = "Import the realm's test users with published passwords. Never true in prod."
  type        = bool
}

variable "ingress_class" {
  description = "IngressClass of the public route."
  type        = string
}

variable "cluster_issuer" {
  description = "cert-manager ClusterIssuer of the TLS certificate."
  type        = string
}

variable "postgres_version" {
  description = "PostgreSQL image tag of Keycloak's database."
  type        = string
}

variable "db_instances" {
  description = "Instances of Keycloak's database."
  type        = number
}

variable "backup_destination" {
  description = "Object store path of the database backups."
  type        = string
}

variable "backup_endpoint_url" {
  description = "S3-compatible endpoint URL (null for AWS S3)."
  type        = string
  default     = null
}

variable "backup_credentials_secret" {
  description = "Secret in the namespace with ACCESS_KEY_ID and ACCESS_SECRET_KEY."
  type        = string
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (the CRDs do not exist yet at plan time)."
  type        = bool
}
