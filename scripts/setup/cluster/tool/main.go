// cb-k8s-tool: one small static binary that is the test cluster's pod sandbox
// ("pause") image and its smoke test's server and client, so the cluster needs
// no image from a registry.
//
//	cb-k8s-tool pause               block until SIGTERM/SIGINT (the sandbox image)
//	cb-k8s-tool serve ADDR          HTTP server answering "hello from <hostname>"
//	cb-k8s-tool get URL [SECS]      HTTP GET (honours HTTP_PROXY), prints the body; exit 1 on failure
//	cb-k8s-tool dial ADDR [SECS]    TCP connect (tcp) or send one datagram (udp:ADDR); exit 1 on failure
//	cb-k8s-tool lookup NAME         resolve NAME with the pod's resolv.conf; exit 1 on failure
//	cb-k8s-tool cat FILE            print a file (the image has no shell)
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func timeout(i int) time.Duration {
	if len(os.Args) > i {
		if n, err := strconv.Atoi(os.Args[i]); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return 3 * time.Second
}

func fail(format string, a ...any) {
	fmt.Printf("FAIL "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	mode := "pause"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "pause":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
	case "serve":
		addr := ":8080"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		h, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello from %s\n", h) })
		fmt.Println("serving on", addr)
		if err := http.ListenAndServe(addr, nil); err != nil {
			fail("%v", err)
		}
	case "get":
		cl := http.Client{Timeout: timeout(3), Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
		r, err := cl.Get(os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("OK %d %s", r.StatusCode, b)
	case "dial":
		network, addr := "tcp", os.Args[2]
		if rest, ok := strings.CutPrefix(addr, "udp:"); ok {
			network, addr = "udp", rest
		}
		c, err := net.DialTimeout(network, addr, timeout(3))
		if err != nil {
			fail("%v", err)
		}
		if network == "udp" {
			if _, err := c.Write([]byte("cb-k8s-tool\n")); err != nil {
				fail("%v", err)
			}
		}
		c.Close()
		fmt.Println("OK connected", addr)
	case "lookup":
		addrs, err := net.LookupHost(os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		fmt.Println("OK", strings.Join(addrs, " "))
	case "cat":
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		os.Stdout.Write(b)
	default:
		fmt.Println("unknown mode", mode)
		os.Exit(2)
	}
}
