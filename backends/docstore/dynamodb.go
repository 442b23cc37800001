package docstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dyn "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gocloud.dev/docstore/awsdynamodb/v2"
)

// NodeKeyIndex is the name CreateDynamoDBTable gives the global secondary
// index on node_key. The store finds the index by its key, whatever its
// name.
const NodeKeyIndex = "node_key"

// preloadFields are the fields Preload reads; a node_key index must
// project them.
var preloadFields = []string{"data_version", "format", "last_used"}

// OpenDynamoDB returns a MetadataStore on a DynamoDB table, which must have the
// layout CreateDynamoDBTable creates (it is checked): partition key pk and
// sort key sk, both strings, and a global secondary index on node_key that
// projects data_version, format and last_used (or everything). Reads of
// entries and run history are strongly consistent; Preload queries the
// index, which is eventually consistent (a preloaded miss is checked with
// Get after two seconds by the cache, and costs at most an execution).
//
// Options: WithCreateTable and WithAllowScans, and those of New but
// WithIndex and WithNodesPerQuery, which OpenDynamoDB sets.
func OpenDynamoDB(ctx context.Context, client *dyn.Client, table string, opts ...Option) (*MetadataStore, error) {
	o := newOptions(opts)
	indexed, err := checkDynamoDBTable(ctx, client, table, o.createTable)
	if err != nil {
		return nil, err
	}
	if !indexed && !o.allowScans {
		return nil, fmt.Errorf("dynamodb table %s has no global secondary index with partition key %s projecting %v: add one (see the package doc of backends/docstore), or allow Preload to scan the table (allow_scans=true)",
			table, NodeKeyField, preloadFields)
	}
	coll, err := awsdynamodb.OpenCollection(client, table, PartitionKey, SortKey, &awsdynamodb.Options{ConsistentRead: true})
	if err != nil {
		return nil, fmt.Errorf("dynamodb table %s: %w", table, err)
	}
	// DynamoDB refuses strongly consistent reads of a global secondary
	// index: Preload queries the table through a second collection.
	index, err := awsdynamodb.OpenCollection(client, table, PartitionKey, SortKey, &awsdynamodb.Options{AllowScans: !indexed})
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("dynamodb table %s: %w", table, err)
	}
	perQuery := 1
	if !indexed {
		// A scan filters with IN, which takes up to 100 values.
		perQuery = 100
	}
	s := New(coll, append(opts, WithIndex(index), WithNodesPerQuery(perQuery))...)
	s.name = "docstore: dynamodb table " + table
	return s, nil
}

// CreateDynamoDBTable creates a table for the store, and waits until it and
// its index are active: partition key pk and sort key sk (strings), a
// global secondary index named node_key with partition key node_key,
// projecting data_version, format and last_used, and on-demand billing. A
// table that exists already is left as it is.
func CreateDynamoDBTable(ctx context.Context, client *dyn.Client, table string) error {
	str := func(s string) *string { return aws.String(s) }
	_, err := client.CreateTable(ctx, &dyn.CreateTableInput{
		TableName: str(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: str(PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str(SortKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str(NodeKeyField), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: str(PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: str(SortKey), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: str(NodeKeyIndex),
			KeySchema: []types.KeySchemaElement{{AttributeName: str(NodeKeyField), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: preloadFields,
			},
		}},
		BillingMode: types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create dynamodb table %s: %w", table, err)
	}
	// Wait for the table and its indexes: a few seconds on AWS, at once on
	// local servers.
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		out, err := client.DescribeTable(ctx, &dyn.DescribeTableInput{TableName: str(table)})
		if err != nil {
			return fmt.Errorf("create dynamodb table %s: %w", table, err)
		}
		active := out.Table.TableStatus == types.TableStatusActive
		for _, gi := range out.Table.GlobalSecondaryIndexes {
			active = active && gi.IndexStatus == types.IndexStatusActive
		}
		if active {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create dynamodb table %s: %w", table, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// checkDynamoDBTable checks that table has the key schema of the store,
// creating it first when missing and create is set, and reports whether it
// has a usable node_key index.
func checkDynamoDBTable(ctx context.Context, client *dyn.Client, table string, create bool) (indexed bool, err error) {
	out, err := client.DescribeTable(ctx, &dyn.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		if !create {
			return false, fmt.Errorf("dynamodb table %s does not exist: create it (create_table=true, or see the package doc of backends/docstore)", table)
		}
		if err := CreateDynamoDBTable(ctx, client, table); err != nil {
			return false, err
		}
		out, err = client.DescribeTable(ctx, &dyn.DescribeTableInput{TableName: aws.String(table)})
	}
	if err != nil {
		return false, fmt.Errorf("dynamodb table %s: %w", table, err)
	}
	t := out.Table
	hash, rng := keyOf(t.KeySchema)
	if hash != PartitionKey || rng != SortKey || attrType(t.AttributeDefinitions, PartitionKey) != types.ScalarAttributeTypeS ||
		attrType(t.AttributeDefinitions, SortKey) != types.ScalarAttributeTypeS {
		return false, fmt.Errorf("dynamodb table %s has key (%q, %q): flowcache needs partition key %s and sort key %s, both strings (see the package doc of backends/docstore)",
			table, hash, rng, PartitionKey, SortKey)
	}
	for _, gi := range t.GlobalSecondaryIndexes {
		if h, _ := keyOf(gi.KeySchema); h != NodeKeyField || gi.Projection == nil {
			continue
		}
		switch gi.Projection.ProjectionType {
		case types.ProjectionTypeAll:
			return true, nil
		case types.ProjectionTypeInclude:
			ok := true
			for _, f := range preloadFields {
				ok = ok && slices.Contains(gi.Projection.NonKeyAttributes, f)
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

func keyOf(schema []types.KeySchemaElement) (hash, rng string) {
	for _, k := range schema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	return hash, rng
}

func attrType(defs []types.AttributeDefinition, name string) types.ScalarAttributeType {
	for _, d := range defs {
		if aws.ToString(d.AttributeName) == name {
			return d.AttributeType
		}
	}
	return ""
}
