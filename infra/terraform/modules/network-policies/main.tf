# Which pods may talk to which. Every namespace of the application starts from
# "deny everything" and opens only what the platform needs:
#
#   functions (app ns)  <- Knative (activator, Kourier gateways, eventing), Prometheus
#   functions (app ns)  -> DNS, PostgreSQL 5432, RabbitMQ 5672, Keycloak 8080 (JWKS),
#                          HTTPS to the internet (Stripe, Twilio, Telegram)
#   outbox-relay        -> the Broker's ingress (8080), PostgreSQL
#   Broker pods         <- outbox-relay, its own dispatchers (ingress 8080), Prometheus
#   (eventing-rabbitmq runs the Broker's ingress and one dispatcher per Trigger in
#   the Broker's namespace, i.e. the app ns)
#                       -> Kourier / activator (delivery to notifications)
#   notifications       <- Knative (activator, Kourier, eventing)
#                       -> SMTP 25/465/587, HTTPS (Twilio, Telegram), PostgreSQL
#   PostgreSQL          <- functions, its own instances (replication), the CNPG
#                          operator, Prometheus
#   RabbitMQ            <- functions, Knative Eventing (broker), the RabbitMQ
#                          operators, its own nodes (clustering), Prometheus
#   Keycloak            <- the ingress controller, functions (JWKS), Prometheus
#
# Knative's queue-proxy and the user container share a pod, so the app rules
# cannot name the queue-proxy's ports apart from the function's: they admit the
# Knative namespaces to the pod and nothing else.

locals {
  dns_namespace = "kube-system"
  private_cidrs = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
  knative_ingress_namespaces = [
    "knative-serving",  # activator (scale from zero), autoscaler probes
    "kourier-system",   # external and cluster-local gateways
    "knative-eventing", # PingSources, broker dispatchers
  ]
}

# ---- functions ----------------------------------------------------------------

resource "kubernetes_network_policy_v1" "app_default_deny" {
  metadata {
    name      = "default-deny"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {}
    policy_types = ["Ingress", "Egress"]
  }
}

resource "kubernetes_network_policy_v1" "app_ingress" {
  metadata {
    name      = "functions-ingress"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "app.kubernetes.io/part-of" = "ticket-gateway"
      }
    }
    policy_types = ["Ingress"]

    ingress {
      dynamic "from" {
        for_each = local.knative_ingress_namespaces
        content {
          namespace_selector {
            match_labels = {
              "kubernetes.io/metadata.name" = from.value
            }
          }
        }
      }
    }

    # Prometheus scrapes the function's /metrics (8080) and the queue-proxy (9091).
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "monitoring"
          }
        }
      }
      ports {
        port     = "8080"
        protocol = "TCP"
      }
      ports {
        port     = "9091"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "app_egress" {
  metadata {
    name      = "functions-egress"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {}
    policy_types = ["Egress"]

    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = local.dns_namespace
          }
        }
      }
      ports {
        port     = "53"
        protocol = "UDP"
      }
      ports {
        port     = "53"
        protocol = "TCP"
      }
    }

    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.data_namespace
          }
        }
        pod_selector {
          match_labels = {
            "cnpg.io/cluster" = var.postgres_cluster_name
          }
        }
      }
      ports {
        port     = "5432"
        protocol = "TCP"
      }
    }

    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.data_namespace
          }
        }
        pod_selector {
          match_labels = {
            "app.kubernetes.io/name" = var.rabbitmq_cluster_name
          }
        }
      }
      ports {
        port     = "5672"
        protocol = "TCP"
      }
    }

    # Keycloak's JWKS (TICKETGW_OIDC_JWKS_URL, in-cluster).
    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "keycloak"
          }
        }
      }
      ports {
        port     = "8080"
        protocol = "TCP"
      }
    }

    # Stripe, SMS and Telegram APIs: HTTPS to public addresses only, never to
    # other private networks. SMTP is opened for notifications alone (below).
    egress {
      to {
        ip_block {
          cidr   = var.egress_https_cidr
          except = local.private_cidrs
        }
      }
      ports {
        port     = "443"
        protocol = "TCP"
      }
    }
  }
}

# ---- events: outbox-relay -> Broker -> Triggers -> notifications ----------------
#
# The RabbitMQ broker (eventing-rabbitmq) runs the Broker's ingress Deployment
# (`ticketgw-broker-ingress`, label eventing.knative.dev/brokerRole=ingress) and
# one dispatcher Deployment per Trigger in the Broker's namespace, i.e. here.
# They carry no ticket-gateway label, so only the rules below (and the
# namespace-wide functions-egress: DNS, RabbitMQ) apply to them.

resource "kubernetes_network_policy_v1" "outbox_relay_egress" {
  metadata {
    name      = "outbox-relay-egress"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "app.kubernetes.io/name" = "outbox-relay"
      }
    }
    policy_types = ["Egress"]

    # K_SINK = the Broker's ingress (port 80 of its Service, 8080 on the pod):
    # in this namespace for the RabbitMQ broker, in knative-eventing for a
    # broker class with a shared ingress (MT channel-based broker).
    egress {
      to {
        pod_selector {
          match_labels = {
            "eventing.knative.dev/broker"     = var.broker_name
            "eventing.knative.dev/brokerRole" = "ingress"
          }
        }
      }
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "knative-eventing"
          }
        }
      }
      ports {
        port     = "8080"
        protocol = "TCP"
      }
    }

    # The outbox table (claims, marks).
    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.data_namespace
          }
        }
        pod_selector {
          match_labels = {
            "cnpg.io/cluster" = var.postgres_cluster_name
          }
        }
      }
      ports {
        port     = "5432"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "broker_ingress" {
  metadata {
    name      = "broker-ingress"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "eventing.knative.dev/broker"     = var.broker_name
        "eventing.knative.dev/brokerRole" = "ingress"
      }
    }
    policy_types = ["Ingress"]

    # Publishers: the outbox relay, the Broker's own dispatchers (replies) and
    # Knative Eventing's control plane (readiness of the Broker address).
    ingress {
      from {
        pod_selector {
          match_labels = {
            "app.kubernetes.io/name" = "outbox-relay"
          }
        }
      }
      from {
        pod_selector {
          match_labels = {
            "eventing.knative.dev/broker" = var.broker_name
          }
        }
      }
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "knative-eventing"
          }
        }
      }
      ports {
        port     = "8080"
        protocol = "TCP"
      }
    }

    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "monitoring"
          }
        }
      }
      ports {
        port     = "9090"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "broker_egress" {
  metadata {
    name      = "broker-egress"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "eventing.knative.dev/broker" = var.broker_name
      }
    }
    policy_types = ["Egress"]

    # Dispatchers deliver to the Knative Service notifications (/events,
    # /deadletters): its cluster-local address is Kourier's internal gateway,
    # which hands requests to the activator while the Service is scaled to zero.
    egress {
      dynamic "to" {
        for_each = ["kourier-system", "knative-serving"]
        content {
          namespace_selector {
            match_labels = {
              "kubernetes.io/metadata.name" = to.value
            }
          }
        }
      }
    }

    # Dispatchers post replies to the Broker's ingress.
    egress {
      to {
        pod_selector {
          match_labels = {
            "eventing.knative.dev/broker"     = var.broker_name
            "eventing.knative.dev/brokerRole" = "ingress"
          }
        }
      }
      ports {
        port     = "8080"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "notifications" {
  metadata {
    name      = "notifications"
    namespace = var.app_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "app.kubernetes.io/name" = "notifications"
      }
    }
    policy_types = ["Ingress", "Egress"]

    # The Triggers' dispatchers reach it through Kourier's internal gateway and
    # the activator (scale from zero), like every function; functions-ingress
    # admits the same, this keeps the event path open if that one narrows.
    ingress {
      dynamic "from" {
        for_each = local.knative_ingress_namespaces
        content {
          namespace_selector {
            match_labels = {
              "kubernetes.io/metadata.name" = from.value
            }
          }
        }
      }
    }

    # E-mail (SMTP submission 587, SMTPS 465, plain 25), Twilio and Telegram
    # (HTTPS): public addresses only.
    egress {
      to {
        ip_block {
          cidr   = var.egress_https_cidr
          except = local.private_cidrs
        }
      }
      ports {
        port     = "25"
        protocol = "TCP"
      }
      ports {
        port     = "465"
        protocol = "TCP"
      }
      ports {
        port     = "587"
        protocol = "TCP"
      }
      ports {
        port     = "443"
        protocol = "TCP"
      }
    }

    # Deduplication and delivery records.
    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.data_namespace
          }
        }
        pod_selector {
          match_labels = {
            "cnpg.io/cluster" = var.postgres_cluster_name
          }
        }
      }
      ports {
        port     = "5432"
        protocol = "TCP"
      }
    }
  }
}

# ---- PostgreSQL and RabbitMQ ----------------------------------------------------

resource "kubernetes_network_policy_v1" "data_default_deny" {
  metadata {
    name      = "default-deny"
    namespace = var.data_namespace
  }

  spec {
    pod_selector {}
    policy_types = ["Ingress", "Egress"]
  }
}

resource "kubernetes_network_policy_v1" "postgres_ingress" {
  metadata {
    name      = "postgres-ingress"
    namespace = var.data_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "cnpg.io/cluster" = var.postgres_cluster_name
      }
    }
    policy_types = ["Ingress"]

    # The functions and the migrate Job.
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.app_namespace
          }
        }
      }
      ports {
        port     = "5432"
        protocol = "TCP"
      }
    }

    # Streaming replication between the instances, and their status endpoint.
    ingress {
      from {
        pod_selector {
          match_labels = {
            "cnpg.io/cluster" = var.postgres_cluster_name
          }
        }
      }
      ports {
        port     = "5432"
        protocol = "TCP"
      }
      ports {
        port     = "8000"
        protocol = "TCP"
      }
    }

    # The CloudNativePG operator asks each instance for its status.
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "cnpg-system"
          }
        }
      }
      ports {
        port     = "8000"
        protocol = "TCP"
      }
    }

    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "monitoring"
          }
        }
      }
      ports {
        port     = "9187"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "rabbitmq_ingress" {
  metadata {
    name      = "rabbitmq-ingress"
    namespace = var.data_namespace
  }

  spec {
    pod_selector {
      match_labels = {
        "app.kubernetes.io/name" = var.rabbitmq_cluster_name
      }
    }
    policy_types = ["Ingress"]

    # AMQP from the functions (outbox dispatcher, consumers) and the broker's dispatchers.
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.app_namespace
          }
        }
      }
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "knative-eventing"
          }
        }
      }
      ports {
        port     = "5672"
        protocol = "TCP"
      }
    }

    # Management API: the cluster and topology operators and the Knative broker
    # controller declare exchanges, queues and bindings through it.
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "rabbitmq-system"
          }
        }
      }
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "knative-eventing"
          }
        }
      }
      ports {
        port     = "15672"
        protocol = "TCP"
      }
    }

    # Clustering between the RabbitMQ nodes (epmd, inter-node, CLI tools).
    ingress {
      from {
        pod_selector {
          match_labels = {
            "app.kubernetes.io/name" = var.rabbitmq_cluster_name
          }
        }
      }
      ports {
        port     = "4369"
        protocol = "TCP"
      }
      ports {
        port     = "25672"
        protocol = "TCP"
      }
      ports {
        port     = "35672"
        protocol = "TCP"
      }
      ports {
        port     = "5672"
        protocol = "TCP"
      }
    }

    # Prometheus plugin (queue depth).
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "monitoring"
          }
        }
      }
      ports {
        port     = "15692"
        protocol = "TCP"
      }
    }
  }
}

resource "kubernetes_network_policy_v1" "data_egress" {
  metadata {
    name      = "data-egress"
    namespace = var.data_namespace
  }

  spec {
    pod_selector {}
    policy_types = ["Egress"]

    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = local.dns_namespace
          }
        }
      }
      ports {
        port     = "53"
        protocol = "UDP"
      }
      ports {
        port     = "53"
        protocol = "TCP"
      }
    }

    # Replication and clustering inside the namespace.
    egress {
      to {
        pod_selector {}
      }
    }

    # CloudNativePG's instance manager talks to the Kubernetes API, and
    # Barman Cloud ships WAL and base backups to the object store: HTTPS
    # (and the API server's 6443) only.
    egress {
      ports {
        port     = "443"
        protocol = "TCP"
      }
      ports {
        port     = "6443"
        protocol = "TCP"
      }
    }
  }
}

# ---- Keycloak -------------------------------------------------------------------

resource "kubernetes_network_policy_v1" "keycloak_default_deny" {
  metadata {
    name      = "default-deny"
    namespace = "keycloak"
  }

  spec {
    pod_selector {}
    policy_types = ["Ingress", "Egress"]
  }
}

resource "kubernetes_network_policy_v1" "keycloak" {
  metadata {
    name      = "keycloak"
    namespace = "keycloak"
  }

  spec {
    pod_selector {}
    policy_types = ["Ingress", "Egress"]

    # Browsers and apps through the ingress controller; functions fetch the JWKS.
    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "traefik"
          }
        }
      }
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = var.app_namespace
          }
        }
      }
      ports {
        port     = "8080"
        protocol = "TCP"
      }
    }

    # Keycloak nodes (Infinispan) and its database's instances among themselves,
    # Keycloak to its database.
    ingress {
      from {
        pod_selector {}
      }
    }

    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "cnpg-system"
          }
        }
      }
      ports {
        port     = "8000"
        protocol = "TCP"
      }
    }

    ingress {
      from {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = "monitoring"
          }
        }
      }
      ports {
        port     = "9000"
        protocol = "TCP"
      }
      ports {
        port     = "9187"
        protocol = "TCP"
      }
    }

    egress {
      to {
        namespace_selector {
          match_labels = {
            "kubernetes.io/metadata.name" = local.dns_namespace
          }
        }
      }
      ports {
        port     = "53"
        protocol = "UDP"
      }
      ports {
        port     = "53"
        protocol = "TCP"
      }
    }

    egress {
      to {
        pod_selector {}
      }
    }

    # Database instance manager to the API server, backups to the object store.
    egress {
      ports {
        port     = "443"
        protocol = "TCP"
      }
      ports {
        port     = "6443"
        protocol = "TCP"
      }
    }
  }
}
