package consumer

import "time"

// Settings are the parts of a durable consumer's Config that operators
// tune through the environment, with the defaults of Config. A service
// embeds them in its configuration once per group of consumers that share
// them.
type Settings struct {
	// AckWait is how long one attempt may take before it is redelivered.
	AckWait time.Duration `env:"CONSUMER_ACK_WAIT" envDefault:"30s"`
	// MaxDeliver is how many attempts an event gets before it is dead-lettered.
	MaxDeliver int `env:"CONSUMER_MAX_DELIVER" envDefault:"5"`
	// Backoff lists the delays before successive retries; the last repeats.
	Backoff []time.Duration `env:"CONSUMER_BACKOFF" envDefault:"1s,5s,30s"`
}

// For returns the Config of the durable consumer of subjects on stream.
func (s Settings) For(stream, durable string, subjects ...string) Config {
	return Config{
		Stream:         stream,
		Durable:        durable,
		FilterSubjects: subjects,
		AckWait:        s.AckWait,
		MaxDeliver:     s.MaxDeliver,
		Backoff:        s.Backoff,
	}
}
