package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// An API server too loaded to answer gets the reset again; one that refuses
// it does not.
func TestResetRetriesTransientAPIErrorsOnly(t *testing.T) {
	defer func(b wait.Backoff) { resetBackoff = b }(resetBackoff)
	resetBackoff = wait.Backoff{Steps: 4, Duration: time.Millisecond, Factor: 1}
	for _, tc := range []struct {
		name         string
		err          error
		wantErr      string
		wantAttempts int
	}{
		{"etcd request timed out", apierrors.NewInternalError(errors.New("etcdserver: request timed out")), "", 2},
		{"server timeout", apierrors.NewServerTimeout(schema.GroupResource{Resource: "namespaces"}, "delete", 1), "", 2},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "ambient-code", errors.New("no")), "forbidden", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ambient-code"}})
			attempts := 0
			client.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
				attempts++
				if attempts == 1 {
					return true, nil, tc.err
				}
				return false, nil, nil
			})
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{crdGVR: "CustomResourceDefinitionList"})
			_, err := Reset(context.Background(), ResetInput{Client: client, Dynamic: dyn, PlatformNamespace: "ambient-code",
				Timeout: time.Second, Interval: time.Millisecond})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if attempts != tc.wantAttempts {
				t.Errorf("namespace deleted %d times, want %d", attempts, tc.wantAttempts)
			}
		})
	}
}
