package interceptor

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// undecodableField is the unknown field that marks a request the server's
// codec could not decode. Numbers 19000-19999 are reserved for protobuf's
// own use, so no message declares it.
const undecodableField protowire.Number = 19999

// MarkUndecodable empties m and records in it why its bytes did not
// decode. grpc-go answers a request its codec refuses with INTERNAL, a
// server fault; the server's codec marks the message instead, and the
// validator answers INVALID_ARGUMENT, the caller's fault, naming the cause.
func MarkUndecodable(m proto.Message, cause error) {
	proto.Reset(m)
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, undecodableField, protowire.BytesType), []byte(cause.Error())))
}

// undecodable returns the INVALID_ARGUMENT error for a message marked by
// MarkUndecodable, else nil.
func undecodable(m proto.Message) error {
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == undecodableField && typ == protowire.BytesType {
			cause, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil
			}
			return status.Error(codes.InvalidArgument, "request is not a valid protobuf message: "+string(cause))
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil
		}
		b = b[m:]
	}
	return nil
}
