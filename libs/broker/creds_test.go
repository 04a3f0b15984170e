package broker_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/storefront-go/storefront/libs/broker"
)

// operatorServer starts an in-process nats-server in operator mode, which
// admits only users whose JWT its one account signed, and returns its URL
// and a credentials file for such a user.
func operatorServer(t *testing.T) (url, credsFile string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	operator, err := nkeys.CreateOperator()
	must(err)
	operatorPub, err := operator.PublicKey()
	must(err)
	operatorJWT, err := jwt.NewOperatorClaims(operatorPub).Encode(operator)
	must(err)
	operatorClaims, err := jwt.DecodeOperatorClaims(operatorJWT)
	must(err)

	account, err := nkeys.CreateAccount()
	must(err)
	accountPub, err := account.PublicKey()
	must(err)
	accountJWT, err := jwt.NewAccountClaims(accountPub).Encode(operator)
	must(err)

	user, err := nkeys.CreateUser()
	must(err)
	userPub, err := user.PublicKey()
	must(err)
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	must(err)
	seed, err := user.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	credsFile = filepath.Join(t.TempDir(), "user.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	resolver := &server.MemAccResolver{}
	must(resolver.Store(accountPub, accountJWT))
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{operatorClaims},
		AccountResolver:  resolver,
	})
	must(err)
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv.ClientURL(), credsFile
}

// NATS_CREDS_FILE authenticates to a server in operator mode; without it
// the same server refuses the connection.
func TestConnectWithCredentialsFile(t *testing.T) {
	t.Parallel()
	url, creds := operatorServer(t)

	nc, err := broker.Connect(broker.Config{URL: url, CredsFile: creds}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Errorf("with the credentials file: %v", err)
	}

	anon, err := broker.Connect(broker.Config{URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := anon.FlushTimeout(time.Second); err == nil {
		t.Error("without credentials the operator-mode server let the client in")
	}
}
