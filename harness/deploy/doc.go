// Package deploy installs a platform release into a cluster, upgrades it in
// place and resets the cluster between cells.
//
// The flow is Render (kustomize in-process or plain YAML, component selection,
// image pins) → Apply (server-side apply) → WaitForRollout (the pinned images
// really run and no pod of an older ReplicaSet is left) → PlanUpgrade/Upgrade
// (all-at-once or ordered component steps) → Reset (every object the cell
// created is gone, namespaces fully deleted).
//
// Runner and state-sync images reach runner pods through the agent registry
// ConfigMap (docs/platform.md §3.4, §9), so they are pinned there as well as in the
// operator's env. Every rendered object carries ManagedLabel so Reset and Prune
// can find it again.
package deploy
