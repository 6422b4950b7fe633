// spawn, Go (run with GOMAXPROCS=1): start N goroutines, wait for all.
//   go build -o spawn_go bench/spawn/go.go && GOMAXPROCS=1 ./spawn_go [N]
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	n := 200000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	results := make([]int, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			results[i] = i + 1
			wg.Done()
		}(i)
	}
	wg.Wait()
	sum := 0
	for _, r := range results {
		sum += r
	}
	dt := time.Since(t0)
	if sum != n*(n+1)/2 {
		panic("wrong sum")
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("result ns_per_task=%.1f rss_kb=%d check=%d\n", float64(dt.Nanoseconds())/float64(n), ru.Maxrss, sum)
}
