"""OCI images without a daemon: deterministic layers, image layouts, a registry client.

Specs followed: the OCI image spec (https://github.com/opencontainers/image-spec) for
layers, configs, manifests, indexes and layouts, and the OCI distribution spec
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md) for registries.
Modules that talk to a registry import httpx; import them only where they are used.
"""
