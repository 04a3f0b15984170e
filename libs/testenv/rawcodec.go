package testenv

import "fmt"

// RawCodec is a gRPC client codec that sends a *[]byte as the message's
// bytes and receives into one, so a test can put anything on the wire:
// conn.Invoke(ctx, method, &in, &out, grpc.ForceCodec(testenv.RawCodec{})).
type RawCodec struct{}

// Marshal returns the bytes v points at.
func (RawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("RawCodec: want *[]byte, got %T", v)
	}
	return *b, nil
}

// Unmarshal copies data into the slice v points at.
func (RawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("RawCodec: want *[]byte, got %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

// Name is "proto", so the server takes the bytes for protobuf.
func (RawCodec) Name() string { return "proto" }
