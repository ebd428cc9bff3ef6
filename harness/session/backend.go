package session

import (
	"context"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// NewBackendClientInput configures NewBackendClient.
type NewBackendClientInput struct {
	Rest *rest.Config
	Kube kubernetes.Interface
	// Ledger records every call (optional).
	Ledger *ledger.Ledger
	// Redactor learns the test-user token (optional).
	Redactor *secrets.Redactor
	Logf     func(string, ...any)
}

// NewBackendClient reaches the backend through an endpoint that follows the
// backend pod across its Recreate rollout, authenticated as test-user (whose
// token is registered with the redactor). The returned func closes it.
func NewBackendClient(ctx context.Context, in NewBackendClientInput) (*Client, func(), error) {
	token, err := ReadTestUserToken(ctx, in.Kube)
	if err != nil {
		return nil, func() {}, err
	}
	if in.Redactor != nil {
		in.Redactor.Add(platform.TestUserSecret, token)
	}
	opts := []Option{WithNamespace(platform.Namespace)}
	if in.Logf != nil {
		opts = append(opts, WithLogf(in.Logf))
	}
	ep, err := NewBackendEndpoint(in.Rest, opts...)
	if err != nil {
		return nil, func() {}, err
	}
	if err := ep.Ready(ctx); err != nil {
		ep.Close()
		return nil, func() {}, err
	}
	// Session waits read the runner pod and its events: a session that cannot
	// run ends the wait at once, with the reason.
	copts := []ClientOption{WithKubernetes(in.Kube)}
	if in.Ledger != nil {
		copts = append(copts, WithLedger(in.Ledger))
	}
	c, err := NewClient(ep, token, copts...)
	if err != nil {
		ep.Close()
		return nil, func() {}, err
	}
	return c, ep.Close, nil
}
