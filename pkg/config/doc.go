// Package config reads the webhook's configuration file: a versioned,
// strictly decoded document of kind Configuration in the API group
// config.secure-defaults.dev, shared by `serve --config` and
// `mutate --config`.
//
// One place does everything to a file: Decode turns YAML or JSON into a
// Configuration (unknown fields, duplicate fields and wrong types are errors
// that name the field's path), fills in the defaults and validates every field,
// joining every problem into one error. Options turns a valid Configuration
// into the defaults.Options the rules run with.
//
// Watcher keeps the configuration of a running server current: it re-reads
// the file when its content changes, swaps in a new configuration only when it
// is valid, and otherwise keeps the last good one, logs the problem once and
// counts it in a metric.
//
// Adding a field: declare it in types.go with its doc comment (the reference
// docs quote it), give it a default in SetDefaults, check it in Validate with
// its path, and carry it to the code that uses it in Options (or a method of
// its own section, as ImageLookup has).
package config
