// Command tpm-ca lists the certificates of a CA bundle (the example's CLI).
//
//	tpm-ca list [BUNDLE]   one line per certificate (default: the image's bundle)
//	tpm-ca path            the default bundle location
//	tpm-ca --version
//
// It prints with the os package alone (no fmt), which keeps the binaries small and
// quick to cross-compile.
package main

import (
	"os"

	tpmca "github.com/example/tpm-ca-certificates/sdk-go"
)

const version = "1.0.0"

const usage = "usage: tpm-ca list [BUNDLE] | tpm-ca path | tpm-ca --version\n"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	switch {
	case len(args) == 1 && args[0] == "--version":
		os.Stdout.WriteString("tpm-ca " + version + "\n")
	case len(args) == 1 && args[0] == "path":
		os.Stdout.WriteString(tpmca.DefaultBundle + "\n")
	case len(args) >= 1 && len(args) <= 2 && args[0] == "list":
		bundle := tpmca.DefaultBundle
		if len(args) == 2 {
			bundle = args[1]
		}
		text, err := os.ReadFile(bundle)
		if err != nil {
			os.Stderr.WriteString("tpm-ca: cannot read " + bundle + ": " + err.Error() + "\n")
			return 1
		}
		for _, label := range tpmca.Labels(string(text)) {
			os.Stdout.WriteString(label + "\n")
		}
	default:
		os.Stderr.WriteString(usage)
		return 2
	}
	return 0
}
