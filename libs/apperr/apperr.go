// Package apperr types, once for every service, the errors a use case
// returns to its caller: not found, invalid argument, failed precondition,
// already exists, aborted, permission denied, unauthenticated, resource
// exhausted and unavailable.
//
// An *Error carries a message written for the caller, apart from the
// internal cause it may wrap: the message reaches the caller, the cause only
// the logs. apperr knows nothing of gRPC, so domain packages may use it;
// libs/interceptor maps each kind to a status code and errdetails.
package apperr

import (
	"errors"
	"strings"
)

// Kind says what went wrong, in terms a caller can act on. The transport
// maps each kind to one status code.
type Kind uint8

// The kinds. The zero Kind is not one of them.
const (
	// KindInvalidArgument is a request that breaks a rule, whatever the
	// state of the system.
	KindInvalidArgument Kind = iota + 1
	// KindNotFound is a resource that does not exist.
	KindNotFound
	// KindAlreadyExists is a request that collides with existing state.
	KindAlreadyExists
	// KindFailedPrecondition is a system not in a state to do what was
	// asked.
	KindFailedPrecondition
	// KindAborted is a request that ran into a concurrent one.
	KindAborted
	// KindPermissionDenied is a known caller who may not do this.
	KindPermissionDenied
	// KindUnauthenticated is a caller whose identity is missing or not
	// valid.
	KindUnauthenticated
	// KindResourceExhausted is a caller who used up a limit.
	KindResourceExhausted
	// KindUnavailable is a server or dependency that cannot serve now.
	KindUnavailable
)

// String returns the kind's name, such as "NOT_FOUND"; it is also the
// reason of an Error that has none of its own.
func (k Kind) String() string {
	switch k {
	case KindInvalidArgument:
		return "INVALID_ARGUMENT"
	case KindNotFound:
		return "NOT_FOUND"
	case KindAlreadyExists:
		return "ALREADY_EXISTS"
	case KindFailedPrecondition:
		return "FAILED_PRECONDITION"
	case KindAborted:
		return "ABORTED"
	case KindPermissionDenied:
		return "PERMISSION_DENIED"
	case KindUnauthenticated:
		return "UNAUTHENTICATED"
	case KindResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case KindUnavailable:
		return "UNAVAILABLE"
	}
	return "UNKNOWN"
}

// phrase is the kind's name for people: "not found".
func (k Kind) phrase() string {
	return strings.ToLower(strings.ReplaceAll(k.String(), "_", " "))
}

// FieldViolation names one bad field of a request and says what is wrong
// with it.
type FieldViolation struct {
	Field       string
	Description string
}

// PreconditionViolation is one unmet precondition: Type is a short code
// such as "STOCK", Subject what it is about ("products/<id>"), and
// Description what is wrong, for people.
type PreconditionViolation struct {
	Type        string
	Subject     string
	Description string
}

// Error is an error a caller can act on. Build it with the constructors.
type Error struct {
	// Kind says what went wrong.
	Kind Kind
	// Message is shown to the caller as is. It never includes Cause.
	Message string
	// Reason is a short UPPER_SNAKE_CASE code for programs, such as
	// "INSUFFICIENT_STOCK"; empty means the kind's name.
	Reason string
	// FieldViolations are the bad fields of an invalid argument.
	FieldViolations []FieldViolation
	// PreconditionViolations are the unmet preconditions of a failed
	// precondition.
	PreconditionViolations []PreconditionViolation
	// Dependency names what could not be reached, for an unavailable
	// error; empty when it is this server itself.
	Dependency string
	// Cause is the internal error behind this one: for logs only.
	Cause error

	// kindOnly marks the kind sentinels (ErrNotFound, ...), which errors.Is
	// matches against any Error of their kind.
	kindOnly bool
}

// Error returns the message, followed by the cause when there is one.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.phrase()
	}
	if e.Cause != nil {
		return msg + ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrNotFound) true for every not-found Error, and
// likewise for the other kind sentinels. Any other Error matches only
// itself.
func (e *Error) Is(target error) bool {
	// target itself, not its chain: errors.Is does the unwrapping.
	t, ok := target.(*Error)
	return ok && t.kindOnly && t.Kind == e.Kind
}

// AppError returns e; it makes *Error a Describer.
func (e *Error) AppError() *Error { return e }

// ReasonOrKind returns Reason, or the kind's name when there is none.
func (e *Error) ReasonOrKind() string {
	if e.Reason != "" {
		return e.Reason
	}
	return e.Kind.String()
}

// WithReason returns a copy of e with the given reason.
func (e *Error) WithReason(reason string) *Error {
	c := e.clone()
	c.Reason = reason
	return c
}

// WithCause returns a copy of e that wraps cause, for the logs; the
// caller still sees only the message.
func (e *Error) WithCause(cause error) *Error {
	c := e.clone()
	c.Cause = cause
	return c
}

// clone copies e; a copy of a sentinel is not a sentinel.
func (e *Error) clone() *Error {
	c := *e
	c.kindOnly = false
	return &c
}

// Describer is an error that keeps its own fields (ids, quantities,
// statuses) for the code that handles it, and describes itself to callers
// as an *Error built with this package's constructors. *Error is one too.
type Describer interface {
	error
	AppError() *Error
}

// From returns the *Error that describes err: that of the outermost
// Describer in err's chain. ok is false when there is none, which makes err
// an internal error.
func From(err error) (e *Error, ok bool) {
	var d Describer
	if !errors.As(err, &d) {
		return nil, false
	}
	e = d.AppError()
	return e, e != nil
}

// Kind sentinels, for errors.Is: errors.Is(err, ErrNotFound) reports
// whether err is any not-found Error. Returned as they are, they read as
// the kind's name ("not found").
var (
	// ErrInvalidArgument matches every KindInvalidArgument error.
	ErrInvalidArgument = sentinel(KindInvalidArgument)
	// ErrNotFound matches every KindNotFound error.
	ErrNotFound = sentinel(KindNotFound)
	// ErrAlreadyExists matches every KindAlreadyExists error.
	ErrAlreadyExists = sentinel(KindAlreadyExists)
	// ErrFailedPrecondition matches every KindFailedPrecondition error.
	ErrFailedPrecondition = sentinel(KindFailedPrecondition)
	// ErrAborted matches every KindAborted error.
	ErrAborted = sentinel(KindAborted)
	// ErrPermissionDenied matches every KindPermissionDenied error.
	ErrPermissionDenied = sentinel(KindPermissionDenied)
	// ErrUnauthenticated matches every KindUnauthenticated error.
	ErrUnauthenticated = sentinel(KindUnauthenticated)
	// ErrResourceExhausted matches every KindResourceExhausted error.
	ErrResourceExhausted = sentinel(KindResourceExhausted)
	// ErrUnavailable matches every KindUnavailable error.
	ErrUnavailable = sentinel(KindUnavailable)
)

func sentinel(k Kind) *Error {
	return &Error{Kind: k, Message: k.phrase(), kindOnly: true}
}

// InvalidArgument says the request breaks a rule; violations name the bad
// fields.
func InvalidArgument(message string, violations ...FieldViolation) *Error {
	return &Error{Kind: KindInvalidArgument, Message: message, FieldViolations: violations}
}

// InvalidFields is InvalidArgument with a message that lists every
// violation: "invalid argument: page_token: is malformed; ...".
func InvalidFields(violations ...FieldViolation) *Error {
	parts := make([]string, len(violations))
	for i, v := range violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return InvalidArgument("invalid argument: "+strings.Join(parts, "; "), violations...)
}

// Invalid is InvalidFields for one field.
func Invalid(field, description string) *Error {
	return InvalidFields(FieldViolation{Field: field, Description: description})
}

// NotFound says a resource does not exist, or the caller may not know that
// it does.
func NotFound(message string) *Error {
	return &Error{Kind: KindNotFound, Message: message}
}

// AlreadyExists says the request conflicts with something that exists.
func AlreadyExists(message string) *Error {
	return &Error{Kind: KindAlreadyExists, Message: message}
}

// FailedPrecondition says the system is not in a state to do what was
// asked, and will not be until something changes; retrying as is won't
// help. reason is the code programs branch on; violations, if any, say
// exactly what is unmet.
func FailedPrecondition(reason, message string, violations ...PreconditionViolation) *Error {
	return &Error{Kind: KindFailedPrecondition, Message: message, Reason: reason, PreconditionViolations: violations}
}

// Aborted says the request ran into a concurrent one; retrying it later may
// succeed.
func Aborted(message string) *Error {
	return &Error{Kind: KindAborted, Message: message}
}

// PermissionDenied says the caller, though known, may not do this.
func PermissionDenied(message string) *Error {
	return &Error{Kind: KindPermissionDenied, Message: message}
}

// Unauthenticated says the caller's identity is missing or not valid.
func Unauthenticated(message string) *Error {
	return &Error{Kind: KindUnauthenticated, Message: message}
}

// ResourceExhausted says the caller used up a limit: a quota, a buffer.
func ResourceExhausted(message string) *Error {
	return &Error{Kind: KindResourceExhausted, Message: message}
}

// Unavailable says dependency (empty: this server) could not serve the
// request now; retrying later may succeed.
func Unavailable(dependency, message string) *Error {
	return &Error{Kind: KindUnavailable, Message: message, Dependency: dependency}
}
