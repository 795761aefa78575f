// Package selfsigned makes a throwaway certificate authority and a serving
// certificate signed by it, in memory: for `serve --self-signed` on a
// developer's machine and for tests. Nothing it makes belongs in a cluster.
package selfsigned
