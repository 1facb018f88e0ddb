# The monitoring stack: Prometheus, Alertmanager and Grafana (with the
# Prometheus operator, kube-prometheus-stack), Loki for logs and Grafana Alloy
# shipping every pod's logs to Loki.
#
# The Ticket Gateway's own assets live in infra/monitoring (PodMonitor,
# PrometheusRule, AlertmanagerConfig to Telegram, the Grafana dashboard as a
# ConfigMap) and reach the cluster through Argo CD with the functions; the
# settings below make Prometheus, Alertmanager and Grafana pick them up from
# any namespace.
#
# Secrets (created by the operator, README.md "Secrets"): grafana-admin
# (keys admin-user, admin-password) in this namespace; alertmanager-telegram
# (key bot-token) in the functions' namespace.

resource "helm_release" "kube_prometheus_stack" {
  name       = "kube-prometheus-stack"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.kube_prometheus_stack_version
  namespace  = "monitoring"
  atomic     = true
  timeout    = 900

  values = [yamlencode({
    crds = { enabled = true }
    prometheus = {
      prometheusSpec = {
        retention = var.prometheus_retention
        replicas  = var.prometheus_replicas
        # Select rules and monitors in every namespace, whatever their labels.
        ruleSelectorNilUsesHelmValues           = false
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        probeSelectorNilUsesHelmValues          = false
        storageSpec = {
          volumeClaimTemplate = {
            spec = {
              accessModes = ["ReadWriteOnce"]
              resources   = { requests = { storage = var.prometheus_storage } }
            }
          }
        }
      }
    }
    alertmanager = {
      alertmanagerSpec = {
        replicas = var.alertmanager_replicas
        alertmanagerConfigSelector = {
          matchLabels = { "ticketgw.io/alertmanager" = "true" }
        }
        alertmanagerConfigNamespaceSelector = {}
        # One cluster per environment: the Ticket Gateway route matches on
        # team="ticketgw", not on the namespace the AlertmanagerConfig lives in.
        alertmanagerConfigMatcherStrategy = { type = "None" }
      }
      podDisruptionBudget = { enabled = var.alertmanager_replicas > 1, maxUnavailable = 1 }
    }
    grafana = {
      admin = {
        existingSecret = var.grafana_admin_secret
        userKey        = "admin-user"
        # checkov:skip=CKV_SECRET_6: the name of a key in the grafana-admin Secret, not a password
        passwordKey = "admin-password"
      }
      ingress = {
        enabled          = true
        ingressClassName = var.ingress_class
        annotations      = { "cert-manager.io/cluster-issuer" = var.cluster_issuer }
        hosts            = [var.grafana_hostname]
        tls              = [{ hosts = [var.grafana_hostname], secretName = "grafana-tls" }]
      }
      sidecar = {
        dashboards = {
          enabled          = true
          label            = "grafana_dashboard"
          labelValue       = "1"
          searchNamespace  = "ALL"
          folderAnnotation = "grafana_folder"
          provider         = { foldersFromFilesStructure = true }
        }
      }
      additionalDataSources = [{
        name   = "Loki"
        type   = "loki"
        uid    = "loki"
        url    = "http://loki-gateway.monitoring.svc.cluster.local"
        access = "proxy"
      }]
    }
  })]
}

resource "helm_release" "loki" {
  name       = "loki"
  repository = "https://grafana.github.io/helm-charts"
  chart      = "loki"
  version    = var.loki_version
  namespace  = "monitoring"
  atomic     = true
  timeout    = 900

  values = [yamlencode({
    deploymentMode = "SingleBinary"
    loki = {
      auth_enabled = false
      commonConfig = { replication_factor = 1 }
      storage      = { type = "filesystem" }
      schemaConfig = {
        configs = [{
          from         = "2024-01-01"
          store        = "tsdb"
          object_store = "filesystem"
          schema       = "v13"
          index        = { prefix = "index_", period = "24h" }
        }]
      }
      limits_config = { retention_period = var.loki_retention }
      compactor     = { retention_enabled = true, delete_request_store = "filesystem" }
    }
    singleBinary = {
      replicas    = 1
      persistence = { size = var.loki_storage }
    }
    read           = { replicas = 0 }
    write          = { replicas = 0 }
    backend        = { replicas = 0 }
    chunksCache    = { enabled = false }
    resultsCache   = { enabled = false }
    lokiCanary     = { enabled = false }
    test           = { enabled = false }
    monitoring     = { selfMonitoring = { enabled = false } }
    serviceMonitor = { enabled = var.install_custom_resources }
  })]

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "alloy" {
  name       = "alloy"
  repository = "https://grafana.github.io/helm-charts"
  chart      = "alloy"
  version    = var.alloy_version
  namespace  = "monitoring"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    alloy = {
      configMap = {
        content = <<-EOT
          discovery.kubernetes "pods" {
            role = "pod"
          }

          discovery.relabel "pods" {
            targets = discovery.kubernetes.pods.targets
            rule {
              source_labels = ["__meta_kubernetes_namespace"]
              target_label  = "namespace"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_name"]
              target_label  = "pod"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_container_name"]
              target_label  = "container"
            }
            rule {
              source_labels = ["__meta_kubernetes_pod_label_serving_knative_dev_service"]
              target_label  = "function"
            }
          }

          loki.source.kubernetes "pods" {
            targets    = discovery.relabel.pods.output
            forward_to = [loki.process.json.receiver]
          }

          // The functions log JSON (TICKETGW_LOG_FORMAT=json): keep level as a label.
          loki.process "json" {
            stage.json {
              expressions = { level = "level" }
            }
            stage.labels {
              values = { level = "" }
            }
            forward_to = [loki.write.default.receiver]
          }

          loki.write "default" {
            endpoint {
              url = "http://loki-gateway.monitoring.svc.cluster.local/loki/api/v1/push"
            }
          }
        EOT
      }
    }
    controller = { type = "daemonset" }
  })]

  depends_on = [helm_release.loki]
}
