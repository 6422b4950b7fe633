// http-client, Go net/http (run with GOMAXPROCS=1): N requests over 10
// keep-alive connections (10 goroutines, MaxIdleConnsPerHost 10) to the
// server at PORT; prints the client's CPU per request (getrusage).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	url := "http://127.0.0.1:" + os.Args[2] + "/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 10, MaxConnsPerHost: 10}}
	var left, ok int64 = int64(n), 0
	t0, c0 := time.Now(), cpu()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&left, -1) >= 0 {
				r, err := client.Get(url)
				if err != nil {
					panic(err)
				}
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode == 200 && string(b) == "Hello, World!" {
					atomic.AddInt64(&ok, 1)
				}
			}
		}()
	}
	wg.Wait()
	secs, used := time.Since(t0).Seconds(), cpu()-c0
	fmt.Printf("result cpu_us_per_req=%.3f req_per_s=%.0f check=%d\n", used*1e6/float64(n), float64(n)/secs, ok)
}
