// A single-member etcd for the tests: loopback only, ports and data directory from
// flags, a clean stop on SIGTERM or SIGINT. With --stop-on-stdin-eof it also stops when
// its standard input closes (the test process that started it is gone), once nothing
// listens on --after-port any more: the API server must stop before its etcd.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dataDir := flag.String("data-dir", "", "data directory (required)")
	clientPort := flag.Int("client-port", 0, "client port on 127.0.0.1 (required)")
	peerPort := flag.Int("peer-port", 0, "peer port on 127.0.0.1 (required)")
	stopOnEOF := flag.Bool("stop-on-stdin-eof", false, "stop when standard input closes")
	removeOnStop := flag.String("remove-on-stop", "", "a directory to remove once stopped (the test's scratch directory)")
	afterPort := flag.Int("after-port", 0, "with --stop-on-stdin-eof: first wait (up to 10s) until nothing listens on this 127.0.0.1 port")
	flag.Parse()
	if *dataDir == "" || *clientPort == 0 || *peerPort == 0 {
		log.Fatal("usage: etcd --data-dir DIR --client-port N --peer-port N")
	}

	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.LogLevel = "error"
	client := loopback(*clientPort)
	peer := loopback(*peerPort)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()

	server, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd: %v", err)
	}
	select {
	case <-server.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		server.Close()
		log.Fatal("etcd: not ready after 60s")
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if *stopOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			waitUntilClosed(*afterPort, 10*time.Second)
			stop <- syscall.SIGTERM
		}()
	}
	select {
	case <-stop:
	case err := <-server.Err():
		log.Printf("etcd: %v", err)
	}
	server.Close()
	if *removeOnStop != "" {
		_ = os.RemoveAll(*removeOnStop)
	}
}

func waitUntilClosed(port int, limit time.Duration) {
	if port == 0 {
		return
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(100 * time.Millisecond)
	}
}

func loopback(port int) url.URL {
	return url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
}
