module github.com/example/tpm-ca-certificates

go 1.19

require github.com/example/tpm-ca-certificates/sdk-go v1.0.0
