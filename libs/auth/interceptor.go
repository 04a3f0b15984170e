package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// UnaryServerInterceptor authenticates and authorizes unary calls and puts
// the Principal, if any, in the handler's context.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is the streaming counterpart of
// UnaryServerInterceptor.
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		wrapped := middleware.WrapServerStream(ss)
		wrapped.WrappedContext = ctx
		return handler(srv, wrapped)
	}
}

// authorize applies the policy for fullMethod. Status messages stay short
// and generic; the reason a token was rejected is logged at debug level.
func (a *Authenticator) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	rule, listed := a.policy.lookup(fullMethod)

	token, err := bearerToken(ctx)
	if err != nil {
		a.logger.DebugContext(ctx, "authorization header rejected",
			slog.String("method", fullMethod), slog.Any("error", err))
		return nil, status.Error(codes.Unauthenticated, "malformed authorization header")
	}
	authenticated := false
	var p Principal
	if token != "" {
		p, err = a.Verify(ctx, token)
		if err != nil {
			a.logger.DebugContext(ctx, "token rejected",
				slog.String("method", fullMethod), slog.Any("error", err))
			if errors.Is(err, jwt.ErrTokenExpired) {
				return nil, status.Error(codes.Unauthenticated, "token expired")
			}
			return nil, status.Error(codes.Unauthenticated, "invalid token")
		}
		authenticated = true
		ctx = WithPrincipal(ctx, p)
	}

	switch {
	case listed && rule.Public:
		if !authenticated {
			ctx = withAnonymous(ctx)
		}
		return ctx, nil
	case !authenticated:
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	case !listed || !rule.allows(p):
		return nil, status.Error(codes.PermissionDenied, "permission denied")
	}
	return ctx, nil
}

// bearerToken returns the token from the incoming authorization metadata,
// or "" when there is none.
func bearerToken(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errors.New("more than one authorization header")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errors.New("authorization header is not a bearer token")
	}
	return token, nil
}

// BearerToken returns call credentials that send token as
// "authorization: Bearer <token>". They are allowed over plaintext so they
// work on loopback in tests and the dev stack; production connections use
// TLS, without which the token is exposed to anyone on the path.
func BearerToken(token string) credentials.PerRPCCredentials {
	return bearerCreds{header: "Bearer " + token}
}

type bearerCreds struct{ header string }

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": c.header}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (bearerCreds) RequireTransportSecurity() bool { return false }
