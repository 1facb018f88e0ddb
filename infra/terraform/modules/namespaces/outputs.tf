output "names" {
  description = "Every namespace this module created (depend on this to order resources after them)."
  value       = [for ns in kubernetes_namespace_v1.this : ns.metadata[0].name]
}
