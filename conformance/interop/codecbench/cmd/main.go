// Command codecbench times the real hashicorp/memberlist (Debian bookworm's
// 0.2.2) encoding and decoding the 1,000-member push/pull of rumor's
// core/benches/wire.rs, and compressing / decompressing it with Go's
// compress/lzw as memberlist does. conformance/interop/codecbench/run.sh runs
// it and rumor's criterion benches in one go and prints them side by side.
//
// Build it with `conformance/interop/build.sh codecbench`.
package main

import (
	"flag"
	"log"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
)

func main() {
	members := flag.Int("members", 1000, "members in the push/pull")
	budget := flag.Duration("time", time.Second, "measuring time per operation")
	dump := flag.String("dump", "", "directory to write push_pull.bin and push_pull.lzw (Go's bytes) into")
	vectors := flag.Bool("lzw-vectors", false, "print the length and CRC-32 of Go's LZW stream of each test input of rumor's compress.rs, and exit")
	flag.Parse()
	if *vectors {
		memberlist.RumorLZWVectors(os.Stdout)
		return
	}
	if err := memberlist.RumorCodecBench(*members, *budget, *dump, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
