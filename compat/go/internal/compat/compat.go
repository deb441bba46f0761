// Package compat holds what the Go compat programs share: the bootstrap flag, a deadline for the
// whole program, failure reporting and the deterministic payloads every program writes and
// checks.
package compat

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Cancel ends the context Setup returned.
var Cancel context.CancelFunc

// Setup parses the common flags (-bootstrap, -timeout, plus whatever the caller registered) and
// returns the bootstrap address and a context that ends when the program's time is up. When the
// time is up the program fails with a message instead of hanging.
func Setup(name string) (string, context.Context) {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "broker address host:port")
	limit := flag.Duration("timeout", 120*time.Second, "time limit for the whole program")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	Cancel = cancel
	go func() {
		<-ctx.Done()
		time.Sleep(5 * time.Second) // let an operation that watches ctx report its own error
		Failf("%s: gave up after %s (time limit)", name, *limit)
	}()
	return *bootstrap, ctx
}

// Failf prints a message and exits with status 1.
func Failf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// Must fails with what was being done when err is not nil.
func Must(err error, what string, args ...any) {
	if err != nil {
		Failf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// Logf prints progress to stdout (shown by lib.sh's check only when the check fails).
func Logf(format string, args ...any) {
	fmt.Printf(time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

// Key, Value and HeaderValue give record i's deterministic contents. Values vary in length
// (10..~400 bytes) and are compressible, so every codec has something to do.
func Key(i int) string { return fmt.Sprintf("key-%06d", i) }

func Value(i int) string {
	return fmt.Sprintf("value-%06d|", i) + strings.Repeat(string(rune('a'+i%26)), i%389)
}

func HeaderValue(i int) string { return fmt.Sprintf("h-%d", i*7) }

// Index parses the record number back out of a key written by Key.
func Index(key []byte) (int, bool) {
	var i int
	if _, err := fmt.Sscanf(string(key), "key-%06d", &i); err != nil {
		return 0, false
	}
	return i, true
}

// MustIndex is Index that fails on a key Key did not write.
func MustIndex(key []byte) int {
	i, ok := Index(key)
	if !ok {
		Failf("key %q was not written by this program", key)
	}
	return i
}
