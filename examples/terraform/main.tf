# The Terraform configuration the demo applies: a state with one resource. Its backend
# is completed at `terraform init -backend-config=FILE` time (bucket, key, endpoints).
# `-var hold_seconds=N` keeps the apply, and so its state lock, running for N seconds.
terraform {
  backend "s3" {}
}

variable "hold_seconds" {
  type    = number
  default = 0
}

variable "revision" {
  type    = number
  default = 1
}

resource "terraform_data" "app" {
  input = var.revision
}

# Replaced on every apply, so its provisioner runs (and holds the lock) every time.
resource "terraform_data" "hold" {
  triggers_replace = timestamp()

  provisioner "local-exec" {
    command = "sleep ${var.hold_seconds}"
  }
}

output "revision" {
  value = terraform_data.app.output
}
