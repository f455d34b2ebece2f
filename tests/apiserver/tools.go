//go:build tools

// Keeps kubectl's main package in the module graph, so that `go mod tidy` records
// what `make apiserver` builds.
package tools

import _ "k8s.io/kubernetes/cmd/kubectl"
