// Package tpmca reads the CA bundles of tpm-ca-certificates (the example's SDK).
//
// A bundle is PEM certificates, each under a comment block whose "# Certificate:"
// line names it and whose "# Owner:" line names its vendor.
package tpmca

import (
	"strconv"
	"strings"
)

// DefaultBundle is where the example's container image puts the root bundle.
const DefaultBundle = "/etc/ssl/certs/ca-bundle.pem"

const begin = "-----BEGIN CERTIFICATE-----"

// Labels returns the label of each certificate of a bundle, in order: its
// "# Certificate:" line, else the first "# " comment line above its PEM block,
// else "certificate N".
func Labels(text string) []string {
	var labels []string
	comment, found := "", false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case strings.HasPrefix(line, "# Certificate: "):
			comment, found = strings.TrimPrefix(line, "# Certificate: "), true
		case strings.HasPrefix(line, "# ") && !found:
			comment, found = line[2:], true
		case line == begin:
			if !found || comment == "" {
				comment = "certificate " + strconv.Itoa(len(labels)+1)
			}
			labels = append(labels, comment)
			comment, found = "", false
		}
	}
	return labels
}
