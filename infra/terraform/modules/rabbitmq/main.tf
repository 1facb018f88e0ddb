# RabbitMQ: the cluster operator and the messaging topology operator (the
# Knative RabbitMQ broker declares its exchanges and queues through the
# latter), and the cluster `ticketgw-rabbitmq` the functions and the broker use.
#
# Credentials: the operator generates the default user into the Secret
# `<name>-default-user` (keys username, password, connection_string...);
# nothing is set here.

resource "helm_release" "operator" {
  name       = "rabbitmq-cluster-operator"
  repository = "oci://registry-1.docker.io/bitnamicharts"
  chart      = "rabbitmq-cluster-operator"
  version    = var.operator_chart_version
  namespace  = "rabbitmq-system"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    clusterOperator = {
      metrics = { serviceMonitor = { enabled = var.install_custom_resources } }
    }
    msgTopologyOperator = {
      enabled = true
      metrics = { serviceMonitor = { enabled = var.install_custom_resources } }
    }
    useCertManager = true
  })]
}

resource "kubernetes_manifest" "cluster" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "rabbitmq.com/v1beta1"
    kind       = "RabbitmqCluster"
    metadata = {
      name      = var.name
      namespace = var.namespace
      labels = {
        "app.kubernetes.io/part-of" = "ticket-gateway"
      }
      # The Knative RabbitMQ broker declares its exchange, queues and bindings
      # (messaging topology operator objects) in the functions' namespace,
      # against this cluster in the data namespace: the topology operator
      # accepts that only from the namespaces listed here.
      annotations = {
        "rabbitmq.com/topology-allowed-namespaces" = join(",", var.topology_allowed_namespaces)
      }
    }
    spec = {
      replicas = var.replicas
      resources = {
        requests = { cpu = var.cpu, memory = var.memory }
        limits   = { cpu = var.cpu, memory = var.memory }
      }
      persistence = {
        storage = var.storage
      }
      rabbitmq = {
        additionalPlugins = ["rabbitmq_prometheus"]
        additionalConfig  = <<-EOT
          cluster_partition_handling = pause_minority
          vm_memory_high_watermark_paging_ratio = 0.99
          disk_free_limit.relative = 1.0
          default_queue_type = quorum
        EOT
      }
      # One node per Kubernetes node when there are several.
      affinity = {
        podAntiAffinity = {
          preferredDuringSchedulingIgnoredDuringExecution = [{
            weight = 100
            podAffinityTerm = {
              topologyKey = "kubernetes.io/hostname"
              labelSelector = {
                matchLabels = { "app.kubernetes.io/name" = var.name }
              }
            }
          }]
        }
      }
    }
  }

  depends_on = [helm_release.operator]
}

# At most one node down at a time during drains and upgrades (the operator
# does not create a PodDisruptionBudget itself). With quorum queues on three
# nodes the broker stays available with one node gone.
resource "kubernetes_pod_disruption_budget_v1" "cluster" {
  metadata {
    name      = var.name
    namespace = var.namespace
  }

  spec {
    max_unavailable = "1"
    selector {
      match_labels = {
        "app.kubernetes.io/name" = var.name
      }
    }
  }
}

# Queue depth for the dashboard and alerts: /metrics is aggregated, per-queue
# numbers (rabbitmq_queue_messages_ready{queue=...}) come from /metrics/detailed.
resource "kubernetes_manifest" "service_monitor" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "monitoring.coreos.com/v1"
    kind       = "ServiceMonitor"
    metadata = {
      name      = var.name
      namespace = var.namespace
    }
    spec = {
      selector = {
        matchLabels = { "app.kubernetes.io/name" = var.name }
      }
      endpoints = [
        { port = "prometheus", path = "/metrics", interval = "30s" },
        {
          port     = "prometheus"
          path     = "/metrics/detailed"
          interval = "30s"
          params   = { family = ["queue_coarse_metrics", "queue_consumer_count"] }
        },
      ]
    }
  }

  depends_on = [kubernetes_manifest.cluster]
}
