package urltest

import (
	"os"
	"testing"
)

// TestMain keeps the AWS SDK from asking the EC2 instance-metadata address
// for credentials when an s3:// or dynamodb:// URL has none in the
// environment (AWS_EC2_METADATA_DISABLED=true, unless it is set: set it to
// false to test a store by URL on EC2 with an instance role).
func TestMain(m *testing.M) {
	if _, set := os.LookupEnv("AWS_EC2_METADATA_DISABLED"); !set {
		os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	}
	os.Exit(m.Run())
}
