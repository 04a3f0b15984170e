package interceptor

import (
	"context"
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Validator checks every request message against its protovalidate rules and
// answers INVALID_ARGUMENT with errdetails.BadRequest field violations.
type Validator struct {
	v    protovalidate.Validator
	skip map[string]bool
}

// NewValidator builds a validator. Methods named in skipMethods (full names,
// "/pkg.Service/Method") are not checked by the interceptor: their handlers
// validate each streamed element themselves, so one bad element can be
// rejected alone instead of failing the whole stream.
func NewValidator(skipMethods ...string) (*Validator, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("build protovalidate validator: %w", err)
	}
	skip := make(map[string]bool, len(skipMethods))
	for _, m := range skipMethods {
		skip[m] = true
	}
	return &Validator{v: v, skip: skip}, nil
}

// Validate returns nil or an INVALID_ARGUMENT status error with field
// violations. Handlers may call it directly for streamed elements.
func (v *Validator) Validate(msg proto.Message) error {
	if err := undecodable(msg); err != nil {
		return err
	}
	err := v.v.Validate(msg)
	if err == nil {
		return nil
	}
	return ValidationStatus(err)
}

// ValidationStatus converts a protovalidate error into a status error.
func ValidationStatus(err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// Compilation or runtime errors in rules are our bug, not the caller's.
		return status.Error(codes.Internal, "request validation unavailable")
	}
	br := &errdetails.BadRequest{}
	for _, viol := range verr.Violations {
		field := protovalidate.FieldPathString(viol.Proto.GetField())
		if field == "" {
			field = "(request)"
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       field,
			Description: viol.Proto.GetMessage(),
			Reason:      viol.Proto.GetRuleId(),
		})
	}
	msg := "invalid request"
	if vs := br.GetFieldViolations(); len(vs) > 0 {
		first := vs[0]
		msg = fmt.Sprintf("invalid request: %s: %s", first.GetField(), first.GetDescription())
		if n := len(vs); n > 1 {
			msg += fmt.Sprintf(" (and %d more)", n-1)
		}
	}
	st, derr := status.New(codes.InvalidArgument, msg).WithDetails(br)
	if derr != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// Unary validates the request before the handler runs.
func (v *Validator) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			check := v.Validate
			if v.skip[info.FullMethod] {
				check = undecodable
			}
			if err := check(m); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// Stream validates every message the client sends.
func (v *Validator) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if v.skip[info.FullMethod] {
			// The handler validates each element itself; a message that did
			// not decode is refused here all the same.
			return handler(srv, &undecodableStream{ServerStream: ss})
		}
		return handler(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type undecodableStream struct{ grpc.ServerStream }

func (s *undecodableStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		return undecodable(msg)
	}
	return nil
}

type validatingStream struct {
	grpc.ServerStream
	v *Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		return s.v.Validate(msg)
	}
	return nil
}
