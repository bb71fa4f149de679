//go:build tools

// Package peers names the module this wrapper builds tests of (never compiled itself).
package peers

import _ "github.com/hashicorp/go-tfe"
