// Command vectors captures golden wire vectors from hashicorp/memberlist
// 0.2.2's own code and verifies bytes produced by rumor with it.
//
// All logic lives in zz_rumor_vectors.go, which build.sh compiles into a
// private copy of the memberlist package (it needs unexported functions);
// this is only the entry point. Build and run it with
// conformance/interop/build.sh and conformance/interop/capture-vectors.sh.
package main

import (
	"os"

	"github.com/hashicorp/memberlist"
)

func main() {
	os.Exit(memberlist.RumorVectorsMain(os.Args[1:], os.Stdin, os.Stdout))
}
