# Knative Serving (with Kourier as its ingress and cert-manager for HTTPS on
# the functions' domain) and Knative Eventing with the RabbitMQ broker, all
# through the Knative operator. The functions themselves are not deployed
# here: Argo CD syncs infra/overlays/<env> (infra/argocd/<env>.yaml).

resource "helm_release" "operator" {
  name       = "knative-operator"
  repository = "https://knative.github.io/operator"
  chart      = "knative-operator"
  version    = var.operator_chart_version
  namespace  = "knative-operator"
  atomic     = true
  timeout    = 600
}

resource "kubernetes_manifest" "serving" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "operator.knative.dev/v1beta1"
    kind       = "KnativeServing"
    metadata = {
      name      = "knative-serving"
      namespace = "knative-serving"
    }
    spec = {
      version = var.knative_version
      ingress = {
        kourier = { enabled = true }
      }
      high-availability = { replicas = var.ha_replicas }
      config = {
        network = {
          "ingress-class" = "kourier.ingress.networking.knative.dev"
          # HTTPS for every public function route, certificates from cert-manager.
          "external-domain-tls" = "Enabled"
          "http-protocol"       = "Redirected"
        }
        certmanager = {
          "issuerRef" = "kind: ClusterIssuer\nname: ${var.cluster_issuer}\n"
        }
        domain = {
          (var.functions_domain) = ""
        }
        features = {
          # queue-proxy and user containers get the restricted security context the
          # functions' namespace enforces (Pod Security Admission "restricted").
          "secure-pod-defaults" = "enabled"
          # emptyDir volumes: writable scratch space under a read-only root
          # filesystem (notifications' /data).
          "kubernetes.podspec-emptydir" = "enabled"
        }
        autoscaler = {
          "enable-scale-to-zero"               = "true"
          "scale-to-zero-grace-period"         = "30s"
          "scale-to-zero-pod-retention-period" = var.scale_to_zero_retention
        }
        observability = {
          "metrics.backend-destination" = "prometheus"
        }
      }
    }
  }

  depends_on = [helm_release.operator]
}

resource "kubernetes_manifest" "eventing" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "operator.knative.dev/v1beta1"
    kind       = "KnativeEventing"
    metadata = {
      name      = "knative-eventing"
      namespace = "knative-eventing"
    }
    spec = {
      version            = var.knative_version
      high-availability  = { replicas = var.ha_replicas }
      defaultBrokerClass = "RabbitMQBroker"
      # The RabbitMQ broker (eventing-rabbitmq), pinned to its release manifest.
      # It needs cert-manager and the RabbitMQ messaging topology operator
      # (module rabbitmq).
      additionalManifests = [
        { URL = "https://github.com/knative-extensions/eventing-rabbitmq/releases/download/knative-v${var.eventing_rabbitmq_version}/rabbitmq-broker.yaml" },
      ]
    }
  }

  depends_on = [helm_release.operator]
}

# The RabbitMQ broker's configuration, in the functions' namespace: which
# RabbitmqCluster (in the data namespace) stores the events, and the queue
# type. Terraform creates only this object. The Broker `ticketgw` and its
# Triggers belong to the kustomize base (infra/knative/eventing/, synced by
# Argo CD); the Broker's spec.config names this object. The cluster allows
# the functions' namespace to declare topology in it through its
# rabbitmq.com/topology-allowed-namespaces annotation (module rabbitmq).
resource "kubernetes_manifest" "broker_config" {
  count = var.install_custom_resources ? 1 : 0

  manifest = {
    apiVersion = "eventing.knative.dev/v1alpha1"
    kind       = "RabbitmqBrokerConfig"
    metadata = {
      name      = "ticketgw-broker-config"
      namespace = var.app_namespace
      labels = {
        "app.kubernetes.io/part-of" = "ticket-gateway"
      }
    }
    spec = {
      rabbitmqClusterReference = {
        name      = var.rabbitmq_cluster_name
        namespace = var.rabbitmq_namespace
      }
      queueType = "quorum"
    }
  }

  depends_on = [kubernetes_manifest.eventing]
}
