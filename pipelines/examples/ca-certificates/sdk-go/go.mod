module github.com/example/tpm-ca-certificates/sdk-go

go 1.19
