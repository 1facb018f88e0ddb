variable "app_namespace" {
  description = "Namespace of the functions."
  type        = string
}

variable "data_namespace" {
  description = "Namespace of PostgreSQL and RabbitMQ."
  type        = string
}

variable "postgres_cluster_name" {
  description = "Name of the CloudNativePG Cluster of the functions' database."
  type        = string
}

variable "rabbitmq_cluster_name" {
  description = "Name of the RabbitmqCluster."
  type        = string
}

variable "broker_name" {
  description = "Name of the Knative Broker in the functions' namespace (infra/knative/eventing/broker.yaml); its ingress and dispatcher pods carry eventing.knative.dev/broker=<name>."
  type        = string
  default     = "ticketgw"
}

variable "egress_https_cidr" {
  description = "Where the functions may open HTTPS connections (Stripe, Twilio, Telegram) and notifications SMTP connections. Private ranges are always excluded."
  type        = string
  default     = "0.0.0.0/0"
}
