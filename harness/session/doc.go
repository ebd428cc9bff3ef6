// Package session drives user traffic through the ambient-code backend REST API
// (docs/platform.md §5): it reaches the backend (the API server's service proxy, or a base URL), creates
// projects and AgenticSessions, keeps calling every backend→runner route while an
// upgrade happens, and records each answer into the ledger, classified so that a
// runner 401 (the regression of issue #1425) is never confused with the
// backend's own authentication errors.
//
// Token values never leave this package: errors, logs and ledger entries carry
// only a "sha256:xxxxxxxx" fingerprint.
package session
