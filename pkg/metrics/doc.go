// Package metrics holds the Prometheus collectors of the webhook behind the
// small Recorder interface, on a registry of their own.
//
// The metric names and labels are a contract for dashboards and alerts,
// listed in docs/reference.md ("Metrics"): every label takes values from a small fixed set (operation,
// result, rule ID), never a namespace, pod or container name.
package metrics
