// Command etcd builds the etcd server from go.etcd.io/etcd/server/v3, which
// has no importable main package, so that the end-to-end tests can run a
// real etcd next to kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
