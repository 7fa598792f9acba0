// capi-loadgen-slowfs: a FUSE pass-through file system whose fsync and fdatasync take a
// chosen extra time, so that etcd's data directory behaves like a slow disk
// (`local.etcd_fsync_delay_ms`). Every other operation goes straight to the backing
// directory (go-fuse's loopback node); only FUSE_FSYNC and FUSE_FSYNCDIR wait first.
//
//	capi-loadgen-slowfs --backing DIR --mountpoint DIR --fsync-delay 10ms
//
// It mounts with mount(2) itself (DirectMount: root, no fusermount needed), prints
// "mounted" on stdout once the mount answers, and unmounts on SIGTERM or SIGINT, and when
// the process that started it dies (PR_SET_PDEATHSIG = SIGTERM), so that no mount is left
// behind. If the mount is busy it is detached (MNT_DETACH).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// version is printed by --version (setup.sh checks that the binary runs).
const version = "capi-loadgen-slowfs v0.1.0 (github.com/hanwen/go-fuse/v2 v2.12.1)"

var (
	delay  time.Duration
	fsyncs atomic.Uint64
)

// slowNode is go-fuse's loopback node with a delayed Fsync.
type slowNode struct {
	*fs.LoopbackNode
}

var _ = (fs.NodeFsyncer)((*slowNode)(nil))
var _ = (fs.NodeWrapChilder)((*slowNode)(nil))

// WrapChild makes every node below the root a slowNode too.
func (n *slowNode) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if l, ok := ops.(*fs.LoopbackNode); ok {
		return &slowNode{l}
	}
	return ops
}

// Fsync waits the chosen delay, then syncs the backing file (fsync or fdatasync, as
// asked; a directory without an open handle has nothing to sync).
func (n *slowNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	fsyncs.Add(1)
	if delay > 0 {
		time.Sleep(delay)
	}
	if s, ok := f.(fs.FileFsyncer); ok {
		return s.Fsync(ctx, flags)
	}
	if s, ok := f.(fs.FileFsyncdirer); ok {
		return s.Fsyncdir(ctx, flags)
	}
	return 0
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "slowfs: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	backing := flag.String("backing", "", "the directory whose contents are served")
	mountpoint := flag.String("mountpoint", "", "where to mount them")
	flag.DurationVar(&delay, "fsync-delay", 0, "extra time every fsync/fdatasync takes (e.g. 10ms)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if *backing == "" || *mountpoint == "" {
		fail("--backing and --mountpoint are required")
	}
	// Unmount when the parent dies, whatever the death signal it asked for.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); e != 0 {
		fail("prctl(PR_SET_PDEATHSIG): %v", e)
	}
	parent := os.Getppid()
	loop, err := fs.NewLoopbackRoot(*backing)
	if err != nil {
		fail("%s: %v", *backing, err)
	}
	root := &slowNode{loop.(*fs.LoopbackNode)}
	loop.(*fs.LoopbackNode).RootData.RootNode = root
	timeout := time.Second
	server, err := fs.Mount(*mountpoint, root, &fs.Options{
		AttrTimeout:  &timeout,
		EntryTimeout: &timeout,
		MountOptions: fuse.MountOptions{
			DirectMount: true,
			FsName:      "capi-loadgen-slowfs",
			Name:        "slowfs",
			AllowOther:  true,
		},
	})
	if err != nil {
		fail("mount %s: %v", *mountpoint, err)
	}
	fmt.Printf("mounted %s on %s, fsync delay %s\n", *backing, *mountpoint, delay)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	if os.Getppid() != parent {
		signals <- syscall.SIGTERM
	}
	select {
	case s := <-signals:
		fmt.Printf("%s: unmounting %s after %d fsyncs\n", s, *mountpoint, fsyncs.Load())
		if err := server.Unmount(); err != nil {
			fmt.Fprintf(os.Stderr, "slowfs: unmount %s: %v; detaching it\n", *mountpoint, err)
			_ = syscall.Unmount(*mountpoint, syscall.MNT_DETACH)
		}
	case <-done:
	}
}
