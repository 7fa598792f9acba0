// Command kube-apiserver is the upstream Kubernetes API server, built from the
// k8s.io/kubernetes module at the version this module's go.mod (or the -modfile
// variant scripts/setup.sh picks) requires. Nothing of it is copied: main only calls
// the upstream command, exactly as cmd/kube-apiserver/apiserver.go does.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support, as upstream

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version" // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
