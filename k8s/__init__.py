"""Kubernetes manifests (kustomize base, overlays, components) serving the kit's models with TF Serving."""
