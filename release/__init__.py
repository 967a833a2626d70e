"""Release tooling: the one version, the release manifests and notes, the workflow lint."""
