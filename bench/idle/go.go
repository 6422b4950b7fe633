// idle, Go net (run with GOMAXPROCS=1): a line echo server, a goroutine
// per connection waiting in bufio.Reader.ReadString('\n') (a 4 KiB buffer
// each, bufio's default).
//   idle_go PORT   prints "port N", exits on SIGTERM or SIGINT
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, line); err != nil {
			return
		}
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[len(os.Args)-1])
	if err != nil {
		panic(err)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { <-sig; os.Exit(0) }()
	for {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		go serve(c)
	}
}
