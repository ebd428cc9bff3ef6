//go:build !linux

package wire

import (
	"context"
	"errors"
)

// Capture needs Linux's AF_PACKET sockets.
func Capture(ctx context.Context, in CaptureInput) error {
	return errors.New("the wire witness captures with AF_PACKET sockets, which only Linux has")
}
