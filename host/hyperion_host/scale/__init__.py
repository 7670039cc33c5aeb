"""Scale-out: the autoscaler policy (policy.py), the Ray Serve engine's wiring to it, and Kubernetes manifests."""
