// Package patch is the one place where a Pod before and after the rules
// becomes an RFC 6902 JSON patch for the API server.
package patch
