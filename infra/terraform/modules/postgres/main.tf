# PostgreSQL through CloudNativePG: the operator (once per cluster) and the
# functions' database cluster with streaming replication, continuous WAL
# archiving and scheduled base backups to an S3-compatible object store.
#
# Credentials: CloudNativePG generates the application user's password into
# the Secret `<name>-app` (keys username, password, uri, ...). The object
# store's access keys come from the Secret var.backup_credentials_secret,
# which the operator of the platform creates (README.md, "Secrets").
# PodDisruptionBudgets: CloudNativePG creates them itself (spec.enablePDB,
# on by default): the primary and at most one replica at a time.

resource "helm_release" "operator" {
  count = var.install_operator ? 1 : 0

  name       = "cloudnative-pg"
  repository = "https://cloudnative-pg.github.io/charts"
  chart      = "cloudnative-pg"
  version    = var.operator_chart_version
  namespace  = "cnpg-system"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    monitoring = { podMonitorEnabled = var.install_custom_resources }
  })]
}

resource "kubernetes_manifest" "cluster" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "Cluster"
    metadata = {
      name      = var.name
      namespace = var.namespace
      labels = {
        "app.kubernetes.io/part-of" = var.part_of
      }
    }
    spec = {
      instances = var.instances
      imageName = "ghcr.io/cloudnative-pg/postgresql:${var.postgres_version}"
      # Synchronous replication where there is a replica to wait for: a commit is
      # acknowledged once one standby has it, so a failover loses no sale.
      minSyncReplicas       = var.instances > 1 ? 1 : 0
      maxSyncReplicas       = var.instances > 1 ? 1 : 0
      primaryUpdateStrategy = "unsupervised"
      enablePDB             = true
      postgresql = {
        parameters = {
          max_connections                     = tostring(var.max_connections)
          shared_buffers                      = var.shared_buffers
          log_min_duration_statement          = "500ms"
          idle_in_transaction_session_timeout = "60s"
        }
      }
      bootstrap = {
        initdb = {
          database = var.database
          owner    = var.owner
        }
      }
      storage = {
        size = var.storage
      }
      walStorage = {
        size = var.wal_storage
      }
      resources = {
        requests = { cpu = var.cpu, memory = var.memory }
        limits   = { memory = var.memory }
      }
      affinity = {
        enablePodAntiAffinity = true
        topologyKey           = "kubernetes.io/hostname"
      }
      monitoring = {
        enablePodMonitor = true
      }
      backup = {
        retentionPolicy = var.backup_retention
        barmanObjectStore = merge(var.backup_endpoint_url == null ? {} : { endpointURL = var.backup_endpoint_url }, {
          destinationPath = var.backup_destination
          s3Credentials = {
            accessKeyId = {
              name = var.backup_credentials_secret
              key  = "ACCESS_KEY_ID"
            }
            secretAccessKey = {
              name = var.backup_credentials_secret
              key  = "ACCESS_SECRET_KEY"
            }
          }
          wal  = { compression = "gzip" }
          data = { compression = "gzip" }
        })
      }
    }
  }

  depends_on = [helm_release.operator]
}

resource "kubernetes_manifest" "scheduled_backup" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "ScheduledBackup"
    metadata = {
      name      = "${var.name}-daily"
      namespace = var.namespace
    }
    spec = {
      # Six fields: seconds first (CloudNativePG's cron format).
      schedule             = var.backup_schedule
      backupOwnerReference = "self"
      immediate            = true
      cluster = {
        name = var.name
      }
    }
  }

  depends_on = [kubernetes_manifest.cluster]
}
