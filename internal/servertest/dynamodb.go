package servertest

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBEndpoint returns FLOWCACHE_TEST_DYNAMODB_ENDPOINT (dynalite at
// http://127.0.0.1:4567 under scripts/servers) after checking that it answers.
func DynamoDBEndpoint(t testing.TB) string {
	t.Helper()
	return needEndpoint(t, "DynamoDB", "FLOWCACHE_TEST_DYNAMODB_ENDPOINT")
}

// DynamoDBClient returns an AWS SDK client for the local DynamoDB (region
// us-east-1; the credentials of the environment, or dummy ones: it accepts any).
func DynamoDBClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	return newDynamoDBClient(DynamoDBEndpoint(t))
}

func newDynamoDBClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  staticAWSCredentials(),
	})
}

// DynamoDBTable creates a new, uniquely named table on the local DynamoDB, with
// a string partition key of the given name and on-demand billing, waits until it
// is active, and returns its name and the endpoint. When the test ends, the
// table is deleted.
func DynamoDBTable(t testing.TB, partitionKey string) (table, endpoint string) {
	t.Helper()
	endpoint = DynamoDBEndpoint(t)
	client := newDynamoDBClient(endpoint)
	table = UniqueName(t)
	ctx, cancel := setupContext(t)
	defer cancel()
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(partitionKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(partitionKey), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("servertest: create DynamoDB table %s: %v", table, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		var nf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			t.Errorf("servertest: delete DynamoDB table %s: %v", table, err)
		}
	})
	// The waiter's default first delay is 20 s; dynalite (started with
	// --createTableMs 0) is active at once.
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatalf("servertest: DynamoDB table %s not active: %v", table, err)
	}
	return table, endpoint
}
