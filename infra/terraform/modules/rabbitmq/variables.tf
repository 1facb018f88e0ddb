variable "operator_chart_version" {
  description = "Version of the bitnamicharts/rabbitmq-cluster-operator chart (cluster and topology operators)."
  type        = string
}

variable "name" {
  description = "Name of the RabbitmqCluster."
  type        = string
  default     = "ticketgw-rabbitmq"
}

variable "namespace" {
  description = "Namespace of the RabbitmqCluster."
  type        = string
}

variable "topology_allowed_namespaces" {
  description = "Namespaces whose topology objects (the Knative RabbitMQ broker's exchange, queues, bindings) may use this cluster: the rabbitmq.com/topology-allowed-namespaces annotation."
  type        = list(string)
  default     = []
}

variable "replicas" {
  description = "RabbitMQ nodes (1 or an odd number: quorum queues need a majority)."
  type        = number

  validation {
    condition     = var.replicas == 1 || var.replicas % 2 == 1
    error_message = "replicas must be 1 or odd (quorum queues need a majority)."
  }
}

variable "cpu" {
  description = "CPU request and limit per node."
  type        = string
}

variable "memory" {
  description = "Memory request and limit per node."
  type        = string
}

variable "storage" {
  description = "Persistent volume size per node."
  type        = string
}

variable "install_custom_resources" {
  description = "False on the very first apply of a cluster (the CRDs do not exist yet at plan time)."
  type        = bool
}
