// sleepers, Go (GOMAXPROCS=1): N goroutines each time.Sleep a random 0-1 s.
package main

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func statusKB(key string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key+":") {
			f := strings.Fields(l)
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return -1
}

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	r := rand.New(rand.NewSource(1))
	lates := make([]time.Duration, n)
	var started int64
	var wg sync.WaitGroup
	runtime.GC()
	rss0 := statusKB("VmRSS")
	wg.Add(n)
	for i := 0; i < n; i++ {
		d := time.Duration(r.Float64() * float64(time.Second))
		go func(i int, d time.Duration) {
			due := time.Now().Add(d)
			atomic.AddInt64(&started, 1)
			time.Sleep(d)
			if l := time.Since(due); l > 0 {
				lates[i] = l
			}
			wg.Done()
		}(i, d)
	}
	for atomic.LoadInt64(&started) < int64(n) {
		runtime.Gosched()
	}
	rss1 := statusKB("VmRSS")
	wg.Wait()
	var sum, max time.Duration
	for _, l := range lates {
		sum += l
		if l > max {
			max = l
		}
	}
	fmt.Printf("result bytes_per_task=%.0f overshoot_ms_mean=%.3f overshoot_ms_max=%.3f check=%d\n",
		float64(rss1-rss0)*1024/float64(n), float64(sum)/float64(n)/1e6, float64(max)/1e6, n)
}
