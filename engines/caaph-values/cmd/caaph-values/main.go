// Command caaph-values expands a HelmChartProxy valuesTemplate the way the Cluster API add-on provider
// for Helm does (kubernetes-sigs/cluster-api-addon-provider-helm @ v0.6.2 : internal/value_substitutions.go):
// Go text/template with the sprig text functions, executed on a map holding the Cluster, ControlPlane
// and InfraCluster objects as unstructured maps.
//
// Usage: caaph-values < input.json, where input.json is {"template": "...", "data": {"Cluster": {...},
// "InfraCluster": {...}}}. The expanded values go to stdout; a parse or execution error goes to stderr
// with exit status 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

type input struct {
	Template string                 `json:"template"`
	Data     map[string]interface{} `json:"data"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "reading input:", err)
		os.Exit(2)
	}
	tmpl, err := template.New("values").Funcs(sprig.TxtFuncMap()).Parse(in.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := tmpl.Execute(os.Stdout, in.Data); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
