"""The Kubernetes engine's parts: pure translations of the bottle's specs into
Kubernetes objects (`meta`, `manifests`), the one seam to the API server
(`cluster`) and commands over the exec API (`streams`). The engine itself is
`claude_bottle.engine.kubernetes.KubernetesEngine`."""
