// Command etcdctl is the upstream etcd command-line client, built from the
// go.etcd.io/etcd/etcdctl/v3 module at the version this module's go.mod requires.
package main

import (
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
)

func main() {
	ctlv3.MustStart()
}
