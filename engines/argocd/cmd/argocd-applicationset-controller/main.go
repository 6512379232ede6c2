// Command argocd-applicationset-controller runs the ApplicationSet controller of Argo CD.
//
// Argo CD ships one multi-call binary (cmd/main.go) that picks the component from argv[0]; this
// entry point runs only the ApplicationSet controller's own cobra command, so the build leaves out
// the API server, repo server, CLI and the rest.
package main

import (
	"os"

	appset "github.com/argoproj/argo-cd/v3/cmd/argocd-applicationset-controller/commands"
)

func main() {
	if err := appset.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
