// go-tfe's own integration tests (issue 16, part 2), built with `go test -c
// github.com/hashicorp/go-tfe` from this wrapper and run by tests/e2e/test_go_tfe.py against
// the dev stack; left-out.tsv and known-failing.tsv beside it say what does not pass, and why.
module terraless.test/peers/gotfe

go 1.26

require github.com/hashicorp/go-tfe v1.111.2
require (
	github.com/google/go-querystring v1.2.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-retryablehttp v0.7.8 // indirect
	github.com/hashicorp/go-slug v0.16.8 // indirect
	github.com/hashicorp/go-version v1.9.0 // indirect
	github.com/hashicorp/jsonapi v1.4.3-0.20250220162346-81a76b606f3e // indirect
	golang.org/x/sync v0.19.0 // indirect
	golang.org/x/sys v0.35.0 // indirect
	golang.org/x/time v0.14.0 // indirect
)
