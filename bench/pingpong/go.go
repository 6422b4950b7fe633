// pingpong, Go (GOMAXPROCS=1): two goroutines hand a counter back and forth
// N times through two unbuffered channels.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	n += n % 2
	toPong, toPing := make(chan int), make(chan int)
	done := make(chan struct{})
	go func() {
		for v := range toPong {
			toPing <- v + 1
			if v+1 >= n {
				break
			}
		}
		close(done)
	}()
	t0 := time.Now()
	v := 0
	toPong <- 1
	for {
		v = <-toPing
		if v >= n {
			break
		}
		toPong <- v + 1
	}
	<-done
	dt := time.Since(t0)
	if v != n {
		panic("wrong count")
	}
	fmt.Printf("result ns_per_handoff=%.1f check=%d\n", float64(dt.Nanoseconds())/float64(n), v)
}
