variable "install_operator" {
  description = "Install the CloudNativePG operator (once per cluster; false for a second database cluster)."
  type        = bool
  default     = true
}

variable "operator_chart_version" {
  description = "Version of the cloudnative-pg chart."
  type        = string
  default     = ""
}

variable "name" {
  description = "Name of the CloudNativePG Cluster."
  type        = string
}

variable "namespace" {
  description = "Namespace of the Cluster."
  type        = string
}

variable "part_of" {
  description = "app.kubernetes.io/part-of label of the Cluster."
  type        = string
  default     = "ticket-gateway"
}

variable "postgres_version" {
  description = "PostgreSQL image tag (ghcr.io/cloudnative-pg/postgresql)."
  type        = string
}

variable "instances" {
  description = "PostgreSQL instances: one primary and instances-1 streaming replicas."
  type        = number
}

variable "database" {
  description = "Application database."
  type        = string
}

variable "owner" {
  description = "Application user owning the database (password generated into <name>-app)."
  type        = string
}

variable "max_connections" {
  description = "max_connections: keep sum(max-scale) x TICKETGW_DB_POOL_SIZE of the overlays under it."
  type        = number
}

variable "shared_buffers" {
  description = "shared_buffers."
  type        = string
}

variable "cpu" {
  description = "CPU request per instance."
  type        = string
}

variable "memory" {
  description = "Memory request and limit per instance."
  type        = string
}

variable "storage" {
  description = "Data volume size per instance."
  type        = string
}

variable "wal_storage" {
  description = "WAL volume size per instance."
  type        = string
}

variable "backup_destination" {
  description = "Object store path of the backups, e.g. s3://ticketgw-backups/prod."
  type        = string
}

variable "backup_endpoint_url" {
  description = "S3-compatible endpoint URL (empty for AWS S3)."
  type        = string
  default     = null
}

variable "backup_credentials_secret" {
  description = "Secret in the namespace with keys ACCESS_KEY_ID and ACCESS_SECRET_KEY for the object store."
  type        = string
}

variable "backup_schedule" {
  description = "Base backup schedule (six-field cron, seconds first)."
  type        = string
  default     = "0 0 3 * * *"
}

variable "backup_retention" {
  description = "How long base backups and WAL are kept."
  type        = string
  default     = "30d"
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (the CRDs do not exist yet at plan time)."
  type        = bool
}
