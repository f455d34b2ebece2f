// kube-apiserver as Kubernetes' own cmd/kube-apiserver builds it, plus one thing the
// tests need: with STOP_ON_STDIN_EOF=1 it stops when its standard input closes, which
// happens when the test process that started it exits for any reason (a panic, a
// kill, the end of the run). SIGTERM still works as usual.
package main

import (
	"io"
	"os"
	"syscall"
	"time"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if os.Getenv("STOP_ON_STDIN_EOF") == "1" {
		go stopWhenOrphaned()
	}
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}

// stopWhenOrphaned asks for a graceful stop when stdin closes, and ends the process
// if that has not happened 5 seconds later (after etcd is gone, the graceful stop can hang).
func stopWhenOrphaned() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	time.Sleep(5 * time.Second)
	os.Exit(3)
}
