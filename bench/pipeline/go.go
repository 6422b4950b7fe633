// pipeline, Go (GOMAXPROCS=1): N items through 4 goroutines joined by
// buffered channels of 64: a producer sends 1..N and closes its channel;
// stages 1-3 each receive and send item+1 on, closing theirs at the end;
// stage 4 (main) sums.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const qsize, stages = 64, 4

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	t0 := time.Now()
	q := make([]chan int, stages)
	for i := range q {
		q[i] = make(chan int, qsize)
	}
	go func(out chan<- int) {
		for i := 1; i <= n; i++ {
			out <- i
		}
		close(out)
	}(q[0])
	for i := 0; i < stages-1; i++ {
		go func(in <-chan int, out chan<- int) {
			for v := range in {
				out <- v + 1
			}
			close(out)
		}(q[i], q[i+1])
	}
	sum := 0
	for v := range q[stages-1] {
		sum += v
	}
	dt := time.Since(t0)
	if sum != n*(n+1)/2+3*n {
		panic("wrong sum")
	}
	fmt.Printf("result ns_per_item=%.1f check=%d\n", float64(dt.Nanoseconds())/float64(n), sum)
}
