package testenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const natsPort = "4222/tcp"

// NATS is a running NATS server container with JetStream enabled.
type NATS struct {
	container *testcontainers.DockerContainer
	url       string
}

// StartNATS starts a NATS container from $STOREFRONT_NATS_IMAGE (default
// nats:2.12-alpine) with JetStream on, and returns once JetStream answers.
func StartNATS(ctx context.Context) (*NATS, error) {
	if err := disableRyuk(); err != nil {
		return nil, err
	}
	image := imageFromEnv(NATSImageEnv, DefaultNATSImage)
	ctr, err := testcontainers.Run(ctx, image,
		// The image's entrypoint is nats-server, so the command is just flags.
		testcontainers.WithCmd("-js", "-sd", "/data"),
		testcontainers.WithExposedPorts(natsPort),
		// Images built FROM scratch have no shell for the internal port
		// check; readiness is probed with a real client below.
		testcontainers.WithWaitStrategy(wait.ForMappedPort(natsPort)),
	)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start nats container %s: %w", image, err), terminate(ctr))
	}
	hostPort, err := WaitReachable(ctx, ctr, natsPort, func(ctx context.Context, hostPort string) error {
		return pingJetStream(ctx, "nats://"+hostPort)
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("wait for nats: %w", err), terminate(ctr))
	}
	url := "nats://" + hostPort
	return &NATS{container: ctr, url: url}, nil
}

// pingJetStream connects and asks for JetStream account info; an open
// mapped port alone may be Docker's proxy answering.
func pingJetStream(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("account info: %w", err)
	}
	return nil
}

// URL returns the client URL, nats://host:port.
func (n *NATS) URL() string {
	return n.url
}

// Terminate stops and removes the container.
func (n *NATS) Terminate(ctx context.Context) error {
	if err := n.container.Terminate(ctx, testcontainers.StopTimeout(stopTimeout)); err != nil {
		return fmt.Errorf("terminate nats: %w", err)
	}
	return nil
}
