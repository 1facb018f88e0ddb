# State lives in a Secret (tfstate-default-ticketgw-staging) of the staging cluster
# itself: no cloud account is needed, the state is encrypted at rest with the
# cluster's Secrets and locked with a Lease. Point KUBE_CONFIG_PATH (and
# KUBE_CTX) at the staging cluster before `terraform init`.
terraform {
  backend "kubernetes" {
    # checkov:skip=CKV_SECRET_6: secret_suffix is the name of the state's Secret, not a secret value
    secret_suffix = "ticketgw-staging"
    namespace     = "kube-system"
  }
}
