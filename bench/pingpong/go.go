// pingpong, Go (GOMAXPROCS=1): two goroutines hand a counter back and forth
// N times.
//   pingpong_go [N] [queue|event]
// queue (default): two unbuffered channels; event: a pair of events (a flag
// under a sync.Mutex with a sync.Cond, asyncio.Event's design): wait, clear,
// then set the other side's, around a shared slot.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func withChannels(n int) int {
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
	return v
}

type event struct {
	mu   sync.Mutex
	cond sync.Cond
	flag bool
}

func newEvent() *event {
	e := &event{}
	e.cond.L = &e.mu
	return e
}

func (e *event) set() {
	e.mu.Lock()
	if !e.flag {
		e.flag = true
		e.cond.Broadcast()
	}
	e.mu.Unlock()
}

func (e *event) clear() {
	e.mu.Lock()
	e.flag = false
	e.mu.Unlock()
}

func (e *event) wait() {
	e.mu.Lock()
	for !e.flag {
		e.cond.Wait()
	}
	e.mu.Unlock()
}

func withEvents(n int) int {
	toPong, toPing := newEvent(), newEvent()
	slot := 0 // written before a set, read after the matching wait
	done := make(chan struct{})
	go func() {
		for {
			toPong.wait()
			toPong.clear()
			v := slot
			slot = v + 1
			toPing.set()
			if v+1 >= n {
				break
			}
		}
		close(done)
	}()
	v := 0
	slot = 1
	toPong.set()
	for {
		toPing.wait()
		toPing.clear()
		v = slot
		if v >= n {
			break
		}
		slot = v + 1
		toPong.set()
	}
	<-done
	return v
}

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	mode := "queue"
	if len(os.Args) > 2 {
		mode = os.Args[2]
	}
	n += n % 2
	var fn func(int) int
	switch mode {
	case "queue":
		fn = withChannels
	case "event":
		fn = withEvents
	default:
		panic("mode: queue or event")
	}
	t0 := time.Now()
	v := fn(n)
	dt := time.Since(t0)
	if v != n {
		panic("wrong count")
	}
	fmt.Printf("result ns_per_handoff=%.1f check=%d\n", float64(dt.Nanoseconds())/float64(n), v)
}
