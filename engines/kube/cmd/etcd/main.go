// Command etcd runs the etcd server of go.etcd.io/etcd/server/v3 (the upstream main package lives
// in the go.etcd.io/etcd/v3 module, which is not published for this release).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
