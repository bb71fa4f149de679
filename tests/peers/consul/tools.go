//go:build tools

// Package peers names the program this module builds (never compiled itself).
package peers

import _ "github.com/hashicorp/consul"
