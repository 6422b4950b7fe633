// spawn, Go (run with GOMAXPROCS=1): start N goroutines, wait for all.
//   go build -o spawn_go bench/spawn/go.go && GOMAXPROCS=1 ./spawn_go [N] [plain|fanout]
// fanout: the goroutines share a buffered channel of 100 slots as a
// semaphore; each takes a slot, yields once (runtime.Gosched) while holding
// it, and gives it back.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const limit = 100

func main() {
	n := 200000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	fanout := len(os.Args) > 2 && os.Args[2] == "fanout"
	results := make([]int, n)
	sem := make(chan struct{}, limit)
	var inside int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		if !fanout {
			go func(i int) {
				results[i] = i + 1
				wg.Done()
			}(i)
			continue
		}
		go func(i int) {
			sem <- struct{}{}
			if atomic.AddInt64(&inside, 1) > limit {
				panic("more goroutines inside than slots")
			}
			runtime.Gosched()
			atomic.AddInt64(&inside, -1)
			<-sem
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
