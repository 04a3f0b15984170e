// Command readyz stands in for a service binary in testenv's tests: it
// serves /readyz on HTTP_ADDR, prints GREETING and whether it inherited
// HOME, and on SIGTERM exits with status EXIT_STATUS (default 0).
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", os.Getenv("HTTP_ADDR"))
	if err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	_, home := os.LookupEnv("HOME")
	fmt.Printf("greeting=%s home=%t\n", os.Getenv("GREETING"), home)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(lis) }()
	<-ctx.Done()
	stop()
	_ = srv.Close()
	fmt.Println("stopping")
	status, _ := strconv.Atoi(os.Getenv("EXIT_STATUS"))
	os.Exit(status)
}
